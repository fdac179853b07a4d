/**
 * The one text-table layout of everything the CLI prints as columns (the run summary's sections,
 * its caches, faults and latency tables): each column as wide as its widest cell, at least two
 * spaces between columns, numbers right-aligned and text left-aligned, no trailing spaces. However
 * large a value grows (a saturated run's 12-digit cycle counts), cells never touch.
 */

export type TextCell = string | number;
/** A row of cells, or a line printed as it is (a heading, another table) that takes no part in the widths. */
export type TextRow = TextCell[] | string;

export interface TextTableOptions {
  /** Spaces before every row (not before verbatim lines); default 0. */
  indent?: number;
  /** Spaces between columns, at least 2 (the default). */
  gap?: number;
  /** Alignment per column; by default a column is right-aligned when every cell under its header is a number. */
  align?: ("left" | "right")[];
  /** The first row is a header: it takes part in the widths, not in the choice of alignment. */
  header?: boolean;
}

/**
 * A cell that reads as a number: 12, -3.5, 1,234, 50.0%, 1.23e+21, 446954 / 0, >=7. A "-" (no value)
 * or an empty cell does not decide a column's alignment either way.
 */
const NUMBER = /^(?:[<>]=?|~)?[-+]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?%?(?: \/ [-+]?\d[\d,]*(?:\.\d+)?%?)*$/;
const neutral = (s: string) => s === "" || s === "-";

export function isNumberCell(c: TextCell): boolean {
  return typeof c === "number" || NUMBER.test(c);
}

/** Lays out `rows` as lines. */
export function textTable(rows: TextRow[], o: TextTableOptions = {}): string[] {
  const gap = " ".repeat(Math.max(2, o.gap ?? 2));
  const indent = " ".repeat(o.indent ?? 0);
  const cellRows = rows.filter((r): r is TextCell[] => typeof r !== "string").map((r) => r.map(String));
  const columns = Math.max(0, ...cellRows.map((r) => r.length));
  const widths = new Array<number>(columns).fill(0);
  for (const r of cellRows) r.forEach((c, i) => (widths[i] = Math.max(widths[i]!, c.length)));
  const body = o.header ? cellRows.slice(1) : cellRows;
  const align = Array.from({ length: columns }, (_, i) => {
    const given = o.align?.[i];
    if (given) return given;
    const cells = body.map((r) => r[i]).filter((c): c is string => c !== undefined && !neutral(c));
    return cells.length > 0 && cells.every(isNumberCell) ? "right" : "left";
  });
  return rows.map((r) => {
    if (typeof r === "string") return r;
    const cells = r.map(String);
    const line = cells.map((c, i) => (align[i] === "right" ? c.padStart(widths[i]!) : i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join(gap);
    return (indent + line).trimEnd();
  });
}
