/**
 * Sweep parameters: dotted paths into the scenario JSON (`config.iotlb.entries`,
 * `build.domains[0].mappings[*].pageSize`), parsed once and applied to a copy of the scenario for
 * each point. `[n]` picks one array element, `[*]` every element.
 */

export type PathStep = { key: string } | { index: number } | { every: true };

/** A parsed parameter path; `text` is the path as written. */
export interface ParamPath {
  text: string;
  steps: PathStep[];
}

const KEY = /^[A-Za-z_$][A-Za-z0-9_$-]*/;

/** Parses a parameter path; throws Error with what is wrong (the caller adds where). */
export function parseParamPath(text: string): ParamPath {
  const steps: PathStep[] = [];
  let i = 0;
  const expectKey = () => {
    const m = KEY.exec(text.slice(i));
    if (!m) throw new Error(`expected a key at character ${i + 1} of the path, got ${i < text.length ? JSON.stringify(text[i]) : "end of path"}`);
    steps.push({ key: m[0] });
    i += m[0].length;
  };
  if (text === "") throw new Error("empty parameter path");
  expectKey();
  while (i < text.length) {
    const c = text[i];
    if (c === ".") {
      i++;
      expectKey();
    } else if (c === "[") {
      const m = /^\[(\*|0|[1-9][0-9]{0,8})\]/.exec(text.slice(i));
      if (!m) throw new Error(`expected "[N]" or "[*]" at character ${i + 1} of the path`);
      steps.push(m[1] === "*" ? { every: true } : { index: Number(m[1]) });
      i += m[0].length;
    } else throw new Error(`unexpected ${JSON.stringify(c)} at character ${i + 1} of the path (expected "." or "[")`);
  }
  return { text, steps };
}

/** The path as far as `n` steps, for messages (`build.domains[0]`). */
export function stepsText(steps: readonly PathStep[], n = steps.length): string {
  let s = "";
  for (const st of steps.slice(0, n)) s += "key" in st ? (s === "" ? st.key : `.${st.key}`) : "index" in st ? `[${st.index}]` : "[*]";
  return s;
}

/** True when one path is a prefix of the other (they could set the same place). */
export function pathsOverlap(a: ParamPath, b: ParamPath): boolean {
  const n = Math.min(a.steps.length, b.steps.length);
  for (let i = 0; i < n; i++) {
    const x = a.steps[i]!, y = b.steps[i]!;
    if ("key" in x || "key" in y) {
      if (!("key" in x && "key" in y && x.key === y.key)) return false;
    } else if ("index" in x && "index" in y && x.index !== y.index) return false;
  }
  return true;
}

const kind = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "an array" : typeof v === "object" ? "an object" : `a ${typeof v}`);

/**
 * Sets `value` at `path` in `root` (a JSON object, modified in place): missing objects on the way
 * are created; array elements must exist. Under a `[*]`, an element without the array the rest of
 * the path indexes is skipped (a pass-through domain has no mappings); the path must set at least
 * one place. Returns how many places were set. Throws Error naming the concrete place that cannot
 * be followed (`build.domains[9]`).
 */
export function applyParam(root: Record<string, unknown>, path: ParamPath, value: unknown): number {
  const { steps } = path;
  const walk = (node: unknown, k: number, here: string, underEvery: boolean): number => {
    const step = steps[k]!;
    const last = k === steps.length - 1;
    const name = here || "the scenario";
    if ("key" in step) {
      if (node === null || typeof node !== "object" || Array.isArray(node)) throw new Error(`${name} is ${kind(node)}, not an object`);
      const obj = node as Record<string, unknown>;
      const there = here === "" ? step.key : `${here}.${step.key}`;
      if (last) {
        obj[step.key] = structuredClone(value);
        return 1;
      }
      if (obj[step.key] === undefined) {
        if (!("key" in steps[k + 1]!)) {
          if (underEvery) return 0;
          throw new Error(`${there} does not exist, so it cannot be indexed`);
        }
        obj[step.key] = {};
      }
      return walk(obj[step.key], k + 1, there, underEvery);
    }
    if (!Array.isArray(node)) throw new Error(`${name} is ${node === undefined ? "missing" : kind(node)}, not an array`);
    if ("index" in step) {
      const there = `${here}[${step.index}]`;
      if (step.index >= node.length) throw new Error(`${there} does not exist (${name} has ${node.length} element${node.length === 1 ? "" : "s"})`);
      if (last) {
        node[step.index] = structuredClone(value);
        return 1;
      }
      return walk(node[step.index], k + 1, there, underEvery);
    }
    let n = 0;
    for (let i = 0; i < node.length; i++) {
      if (last) {
        node[i] = structuredClone(value);
        n++;
      } else n += walk(node[i], k + 1, `${here}[${i}]`, true);
    }
    return n;
  };
  const n = walk(root, 0, "", false);
  if (n === 0) throw new Error(`${path.text} matches nothing in the scenario`);
  return n;
}
