/**
 * The pure parts of `npm test` (scripts/test.ts): how the test files are shared out among processes,
 * how test/durations.json is read, and what uvu's totals in a process's output say.
 */

/** One process's share: the files it runs, and the seconds they are expected to take. */
export interface Item {
  files: string[];
  weight: number;
}

/** Files expected to take less than this many seconds share a process... */
export const LIGHT = 4;
/** ...up to this many seconds of them per process. */
export const BATCH = 8;

/**
 * The queue of processes for `files`, longest first: a file expected to take `LIGHT` seconds or
 * more alone, lighter ones packed into shares of at most `BATCH` seconds (a lone file heavier than
 * what is left of a share starts a new one). `known` gives seconds per file; a file it does not know
 * counts as the longest known file (at least `BATCH`), so that it starts early.
 */
export function planQueue(files: readonly string[], known: Readonly<Record<string, number>>): Item[] {
  const unknownWeight = Math.max(BATCH, ...Object.values(known));
  const weight = (f: string) => known[f] ?? unknownWeight;
  const items: Item[] = [];
  let share: Item | null = null;
  for (const f of [...files].sort((a, b) => weight(b) - weight(a) || a.localeCompare(b))) {
    const w = weight(f);
    if (w >= LIGHT) {
      items.push({ files: [f], weight: w });
      continue;
    }
    if (share === null || share.weight + w > BATCH) items.push((share = { files: [], weight: 0 }));
    share.files.push(f);
    share.weight += w;
  }
  return items.sort((a, b) => b.weight - a.weight);
}

/**
 * test/durations.json's text as seconds per file (`path` names the file in errors): an object whose
 * values are finite non-negative numbers. Throws an Error that says what was expected.
 */
export function parseDurations(text: string, path: string): Record<string, number> {
  const expected = `expected an object {"path/below/test/x.test.ts": seconds, ...} (npm test -- --record writes it)`;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}; ${expected}`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error(`${path}: ${expected}`);
  for (const [k, s] of Object.entries(v)) {
    if (typeof s !== "number" || !Number.isFinite(s) || s < 0) throw new Error(`${path}: "${k}": ${JSON.stringify(s)} is not a number of seconds; ${expected}`);
  }
  return v as Record<string, number>;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/** uvu's totals in a process's output (the last of each: a process prints them once), or null if it printed none. */
export function uvuTotals(output: string): { total: number; passed: number; skipped: number } | null {
  const plain = output.replace(ANSI, "");
  const last = (label: string) => {
    const all = [...plain.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)\\s*$`, "gm"))];
    return all.length ? Number(all[all.length - 1]![1]) : null;
  };
  const total = last("Total"), passed = last("Passed"), skipped = last("Skipped");
  return total === null || passed === null ? null : { total, passed, skipped: skipped ?? 0 };
}

/** A regular expression that matches exactly the paths `files` (uvu's PATTERN for one process). */
export function exactly(files: readonly string[]): string {
  return `^(${files.map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})$`;
}
