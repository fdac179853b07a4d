/**
 * Mutations of a JSON document's keys, values and types: each edit picks a node (by its index in
 * depth-first order, so every section of a document is reached) and renames, removes or adds a
 * key, replaces the value with one of another type or an edge value, or grows or shrinks an array.
 */
import * as fc from "fast-check";

export type JsonEdit =
  | { op: "rename"; node: number; key: number }
  | { op: "remove"; node: number }
  | { op: "add"; node: number; key: number; value: number }
  | { op: "set"; node: number; value: number }
  | { op: "dup"; node: number };

/** Keys: real ones of the scenario format, near misses and the ones objects are made of. */
export const KEYS = [
  "arch", "registers", "memory", "build", "trace", "config", "CAP", "ECAP", "RTADDR", "addr", "u64", "mode", "tableBase", "domains",
  "id", "type", "levels", "mappings", "iova", "pa", "size", "perm", "devices", "bdf", "pasid", "domain", "ats", "iotlb", "timing",
  "preset", "entries", "assoc", "policy", "driver", "limits", "snoop", "Arch", "", " ", "__proto__", "constructor", "toString", "a.b", "x[0]", "\u0000", "\u202e",
];

/** Values of every JSON type, at and beyond the edges the format allows. */
export const VALUES: unknown[] = [
  null, true, false, 0, -1, 1, 4, 5, 52, 4096, 2 ** 32, 2 ** 53, 1e308, -0, 0.5, "", "0x", "0x0", "0x1000", "0xfffffffffffffffff", "0x-1", "-0x1",
  "1e3", "vtd", "smmuv3", "ss", "fs", "nested", "pt", "rw", "x", "lru", "00:02.0", "ff:1f.7", "\u0000", "\u001b[2J", "a".repeat(3000), [], {}, [[[[]]]],
  ["0x1"], { id: 1 }, { "__proto__": 1 },
];

export const jsonEditArb: fc.Arbitrary<JsonEdit> = fc.oneof(
  fc.record({ op: fc.constant("rename" as const), node: fc.nat(), key: fc.nat() }),
  fc.record({ op: fc.constant("remove" as const), node: fc.nat() }),
  fc.record({ op: fc.constant("add" as const), node: fc.nat(), key: fc.nat(), value: fc.nat() }),
  fc.record({ op: fc.constant("set" as const), node: fc.nat(), value: fc.nat() }),
  fc.record({ op: fc.constant("dup" as const), node: fc.nat() }),
);

type Container = Record<string, unknown> | unknown[];
interface Node {
  parent: Container;
  key: string | number;
}

function nodes(v: unknown, out: Node[] = []): Node[] {
  if (v !== null && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      out.push({ parent: v as Container, key: Array.isArray(v) ? Number(k) : k });
      nodes(x, out);
    }
  }
  return out;
}

/** Sets an own property (a "__proto__" key stays a key, as JSON.parse makes it). */
function put(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
}

const clone = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.map(clone);
  if (v !== null && typeof v === "object") {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) put(o, k, clone(x));
    return o;
  }
  return v;
};

/** `doc` with the edits applied (a copy). */
export function applyJsonEdits(doc: unknown, edits: readonly JsonEdit[]): unknown {
  const root = { doc: clone(doc) } as Record<string, unknown>;
  for (const e of edits) {
    const all = nodes(root);
    const n = all[e.node % all.length]!;
    const { parent, key } = n;
    const current = (parent as Record<string | number, unknown>)[key];
    switch (e.op) {
      case "rename":
        if (!Array.isArray(parent) && parent !== root) {
          const entries = Object.entries(parent).map(([k, x]) => [k === key ? KEYS[e.key % KEYS.length]! : k, x] as const);
          for (const k of Object.keys(parent)) delete parent[k];
          for (const [k, x] of entries) put(parent, k, x);
        }
        break;
      case "remove":
        if (parent === root) break;
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete parent[key as string];
        break;
      case "add": {
        const target = current !== null && typeof current === "object" ? (current as Container) : parent;
        const value = clone(VALUES[e.value % VALUES.length]);
        if (Array.isArray(target)) target.push(value);
        else if (target !== root) put(target, KEYS[e.key % KEYS.length]!, value);
        break;
      }
      case "set":
        if (Array.isArray(parent)) parent[key as number] = clone(VALUES[e.value % VALUES.length]);
        else put(parent, key as string, clone(VALUES[e.value % VALUES.length]));
        break;
      case "dup":
        if (Array.isArray(current) && current.length) current.push(clone(current[current.length - 1]));
        break;
    }
  }
  return root.doc;
}
