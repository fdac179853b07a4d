/**
 * A problem with the user's input (scenario, trace, options). The CLI prints `message` and exits
 * with status 2. Messages name the file, the line and column where known, and what was expected.
 *
 * A message never carries a raw control character to the terminal: quotations of input go through
 * `excerpt` or `quote` (short, escaped), and the constructor escapes whatever control characters
 * are left (a file name, a message built elsewhere) and cuts a message longer than MAX_MESSAGE
 * characters in the middle (a quotation that did not go through `excerpt`).
 */
export class InputError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(InputError.format(message, file, line, column));
    this.name = "InputError";
  }

  static format(message: string, file?: string, line?: number, column?: number): string {
    if (file === undefined) return bounded(message);
    const where = line === undefined ? file : column === undefined ? `${file}:${line}` : `${file}:${line}:${column}`;
    return bounded(`${where}: ${message}`);
  }
}

/** The longest message InputError keeps whole. */
export const MAX_MESSAGE = 2000;

function bounded(message: string): string {
  const s = escapeControls(message);
  if (s.length <= MAX_MESSAGE) return s;
  const head = MAX_MESSAGE - 300, tail = 100;
  return `${s.slice(0, head)} ...(${s.length - head - tail} characters cut)... ${s.slice(s.length - tail)}`;
}

const NAMED: Record<string, string> = { "\0": "\\0", "\t": "\\t", "\n": "\\n", "\r": "\\r" };

/**
 * `s` with every control character written as an escape: `\0`, `\t`, `\n`, `\r`, else `\xHH`
 * (C0, DEL and C1) or `\uHHHH` (the Unicode line and paragraph separators and the bidirectional
 * overrides, which reorder what a terminal shows).
 */
export function escapeControls(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const named = NAMED[c];
    if (named !== undefined) return named;
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/**
 * A quotation of user input for a message: control characters escaped (escapeControls) and at most
 * `max` characters of it, with "..." and the full length when it is cut:
 * `excerpt("AAAA...", 4)` -> `AAAA... (5242880 characters)`.
 */
export function excerpt(text: string, max = 40): string {
  return text.length > max ? `${escapeControls(text.slice(0, max))}... (${text.length} characters)` : escapeControls(text);
}

/** `excerpt` in double quotes, the length note after them: `"AAAA..." (5242880 characters)`. */
export function quote(text: string, max = 40): string {
  if (text.length <= max) return `"${escapeControls(text)}"`;
  return `"${escapeControls(text.slice(0, max))}..." (${text.length} characters)`;
}
