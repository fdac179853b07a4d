/**
 * A problem with the user's input (scenario, trace, options). The CLI prints `message` and exits
 * with status 2. Messages name the file, the line and column where known, and what was expected.
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
    if (file === undefined) return message;
    const where = line === undefined ? file : column === undefined ? `${file}:${line}` : `${file}:${line}:${column}`;
    return `${where}: ${message}`;
  }
}
