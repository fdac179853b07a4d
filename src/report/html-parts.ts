/**
 * The HTML building blocks of the reports (src/report/html.ts and the architectures' report hooks,
 * src/report/arch/*): escaping, number formatting, sortable tables and figure lists. It imports
 * nothing, so any report module may use it.
 */

// ---- escaping -------------------------------------------------------------------------------------

const htmlEscapes: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text for HTML element content or a quoted attribute value. */
export function escapeHtml(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => htmlEscapes[c]!);
}

/**
 * JSON for a `<script type="application/json">` element: `<`, `>` and `&` become \u escapes (so
 * `</script>` and `<!--` cannot appear), as do U+2028/U+2029.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

/** Inlined code must not close its element early. */
export function inlineScript(code: string): string {
  return code.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--");
}
export function inlineStyle(css: string): string {
  return css.replace(/<\/(style)/gi, "<\\/$1");
}

// ---- formatting -------------------------------------------------------------------------------------

/** 1234567 -> "1,234,567"; non-integers with `digits` decimals. */
export function fmt(v: number, digits = 0): string {
  if (!Number.isFinite(v)) return String(v);
  const [int, frac] = Math.abs(v).toFixed(digits).split(".");
  const grouped = int!.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return (v < 0 ? "-" : "") + grouped + (frac ? "." + frac : "");
}
export const pct = (part: number, whole: number) => (whole ? `${((100 * part) / whole).toFixed(1)}%` : "-");
export const hex = (v: bigint) => "0x" + v.toString(16);
/** A sort key for addresses: fixed-width hex. */
export const hexKey = (v: bigint) => v.toString(16).padStart(16, "0");

export function bytes(n: number): string {
  if (n >= 2 ** 30 && n % 2 ** 30 === 0) return `${n / 2 ** 30}G`;
  if (n >= 2 ** 20 && n % 2 ** 20 === 0) return `${n / 2 ** 20}M`;
  if (n >= 2 ** 10 && n % 2 ** 10 === 0) return `${n / 2 ** 10}K`;
  return String(n);
}


/** A table cell; `sort` is the value the column sorts by (numbers sort as numbers). */
export interface Cell {
  text: string;
  sort?: string | number;
  cls?: string;
  title?: string;
}
export type CellLike = Cell | string | number;

export function cell(c: CellLike): string {
  const x: Cell = typeof c === "object" ? c : typeof c === "number" ? { text: fmt(c), sort: c } : { text: c };
  const attrs = [
    x.cls ? ` class="${escapeHtml(x.cls)}"` : "",
    x.sort !== undefined ? ` data-v="${escapeHtml(x.sort)}"` : "",
    x.title ? ` title="${escapeHtml(x.title)}"` : "",
  ].join("");
  return `<td${attrs}>${escapeHtml(x.text)}</td>`;
}

export interface Column {
  label: string;
  num?: boolean;
  title?: string;
}

export function table(id: string, columns: Column[], rows: { cells: CellLike[]; attrs?: Record<string, string> }[], opts: { sortable?: boolean; cls?: string } = {}): string {
  const head = columns
    .map((c) => `<th${c.num ? ' data-type="num"' : ""}${c.title ? ` title="${escapeHtml(c.title)}"` : ""}>${escapeHtml(c.label)}</th>`)
    .join("");
  const body = rows
    .map((r) => {
      const attrs = Object.entries(r.attrs ?? {}).map(([k, v]) => ` ${k}="${escapeHtml(v)}"`).join("");
      return `<tr${attrs}>${r.cells.map(cell).join("")}</tr>`;
    })
    .join("\n");
  const cls = ["data", opts.sortable !== false ? "sortable" : "", opts.cls ?? ""].filter(Boolean).join(" ");
  return `<table id="${escapeHtml(id)}" class="${cls}"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** A key-value list of figures. */
export function figures(items: [string, string, string?][]): string {
  return `<dl class="figures">${items
    .map(([k, v, note]) => `<div><dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}${note ? ` <small>${escapeHtml(note)}</small>` : ""}</dd></div>`)
    .join("")}</dl>`;
}

/** Up to 4 values seen, "..." when there were more. */
export const few = (vs: number[], more: boolean) => vs.join(" ") + (more ? " ..." : "");
