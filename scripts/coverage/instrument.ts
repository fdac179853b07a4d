/**
 * Statement coverage of the core: a copy of assembly/ in which every statement of every function
 * and method body is preceded by `__cov(ID);` (a statement that is the body of an if, else or loop
 * without braces is wrapped in a block with it), built with the debug target (assertions on) into
 * build/coverage.wasm, which has the same exports as the other builds and one import more,
 * env.__cov, that hook.mjs provides. Statement positions come from AssemblyScript's own parser, so
 * the instrumented text is the original with insertions only; each file's import of __cov goes on
 * its first line, so line numbers stay the same. The map ID -> file:line is written beside the wasm.
 * The test harnesses (assembly/testing: the walk over every format, the set-associative array) are
 * built from the same instrumented sources into build/coverage-walk-harness.wasm and
 * build/coverage-cache-harness.wasm; hook.mjs swaps them in for the plain harnesses.
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { Parser } from "assemblyscript";
import asc from "assemblyscript/asc";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface CoveragePoint {
  file: string;
  line: number;
}

interface Insert {
  pos: number;
  text: string;
}

type AnyNode = Record<string, unknown> & { range: { start: number; end: number } };

/** The insertions for one source file; `next` numbers the points. */
export function instrumentText(text: string, file: string, points: CoveragePoint[]): string {
  const parser = new Parser();
  parser.parseFile(text, file, false);
  const source = parser.sources.find((s) => s.normalizedPath.replace(/\.ts$/, "") === file.replace(/\.ts$/, ""))!;
  const inserts: Insert[] = [];
  const point = (s: AnyNode): string => {
    points.push({ file, line: source.lineAt(s.range.start) });
    return `__cov(${points.length - 1});`;
  };
  const block = (stmts: AnyNode[] | null | undefined): void => {
    for (const s of stmts ?? []) {
      inserts.push({ pos: s.range.start, text: point(s) });
      nested(s);
    }
  };
  const body = (s: AnyNode | null | undefined): void => {
    if (!s) return;
    if (Array.isArray(s.statements)) return block(s.statements as AnyNode[]);
    inserts.push({ pos: s.range.start, text: `{${point(s)}` });
    nested(s);
    // the statement's range ends before its semicolon: the block closes after it (an `else` may follow)
    let end = s.range.end;
    while (text[end] === " " || text[end] === "\t") end++;
    inserts.push({ pos: text[end] === ";" ? end + 1 : s.range.end, text: "}" });
  };
  const nested = (s: AnyNode): void => {
    if ("ifTrue" in s) {
      body(s.ifTrue as AnyNode);
      body(s.ifFalse as AnyNode | null);
    } else if (Array.isArray(s.cases)) for (const c of s.cases as AnyNode[]) block(c.statements as AnyNode[]);
    else if (Array.isArray(s.bodyStatements)) {
      block(s.bodyStatements as AnyNode[]);
      block(s.catchStatements as AnyNode[] | null);
      block(s.finallyStatements as AnyNode[] | null);
    } else if (Array.isArray(s.statements)) block(s.statements as AnyNode[]);
    else if ("body" in s && s.body && !("signature" in s)) body(s.body as AnyNode);
  };
  const top = (s: AnyNode): void => {
    if (Array.isArray(s.members)) for (const m of s.members as AnyNode[]) top(m);
    else if ("signature" in s && s.body && Array.isArray((s.body as AnyNode).statements)) block((s.body as AnyNode).statements as AnyNode[]);
    else if ("declaration" in s && s.declaration) top(s.declaration as AnyNode);
  };
  for (const s of source.statements as unknown as AnyNode[]) top(s);
  inserts.sort((a, b) => a.pos - b.pos);
  let out = "";
  let at = 0;
  for (const i of inserts) {
    out += text.slice(at, i.pos) + i.text;
    at = i.pos;
  }
  return out + text.slice(at);
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** Builds build/coverage.wasm and build/coverage.json (the points); returns the points. */
export async function buildCoverageCore(): Promise<CoveragePoint[]> {
  const work = mkdtempSync(join(tmpdir(), "iommu-emu-cov-"));
  try {
    cpSync(join(ROOT, "assembly"), join(work, "assembly"), { recursive: true });
    cpSync(join(ROOT, "asconfig.json"), join(work, "asconfig.json"));
    const points: CoveragePoint[] = [];
    for (const abs of tsFiles(join(ROOT, "assembly"))) {
      const file = relative(ROOT, abs).split("\\").join("/");
      if (file.startsWith("assembly/testing/") || file === "assembly/tsconfig.json") continue;
      const text = readFileSync(abs, "utf8");
      const before = points.length;
      let out = instrumentText(text, file, points);
      if (points.length === before) continue;
      const rel = relative(dirname(abs), join(ROOT, "assembly", "__coverage")).split("\\").join("/");
      out = `import { __cov } from "${rel.startsWith(".") ? rel : `./${rel}`}"; ${out}`;
      writeFileSync(join(work, file), out);
    }
    writeFileSync(join(work, "assembly", "__coverage.ts"), '// @ts-ignore: decorator\n@external("env", "__cov") export declare function __cov(id: u32): void;\n');
    // the core, and the two test harnesses (the same instrumented sources: the same points)
    const builds: [string, string, string][] = [
      ["assembly/index.ts", "asconfig.json", "debug"],
      ["assembly/testing/walk-harness.ts", "assembly/testing/asconfig.json", "walk"],
      ["assembly/testing/cache-harness.ts", "assembly/testing/asconfig.json", "debug"],
    ];
    for (const [entry, config, target] of builds) {
      const name = entry === "assembly/index.ts" ? "coverage.wasm" : `coverage-${entry.split("/").pop()!.replace(/\.ts$/, "")}.wasm`;
      const args = [join(work, entry), "--config", join(work, config), "--target", target, "--outFile", join(ROOT, "build", name), "--textFile", join(work, "out.wat")];
      const { error, stderr } = await asc.main(args, { stdout: process.stdout, stderr: process.stderr } as never);
      if (error) throw new Error(`the coverage build of ${entry} failed: ${error.message}\n${String(stderr)}`);
    }
    writeFileSync(join(ROOT, "build", "coverage.json"), JSON.stringify(points));
    return points;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
