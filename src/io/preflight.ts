/**
 * Output paths are checked before any work starts (README "CLI", "Outputs"), by the same rules in
 * every command, so that a mistake costs an exit 2 at once and not a stack trace after a long
 * replay:
 *
 * - the directory an output goes into must exist (it is never created; a sweep's `-o DIR` itself
 *   may be, its parent must exist) and be writable (fs.accessSync W_OK), as must an existing file;
 * - a directory is not a file name (and a sweep's `-o` must not be a file);
 * - an output must not be the same file as any input (device and inode compared after following
 *   symbolic links, so hard links and symbolic links are caught);
 * - two outputs must not name the same file, and at most one may be `-` (standard output).
 */
import { accessSync, constants, statSync, type Stats } from "node:fs";
import { dirname, relative, resolve, sep } from "node:path";
import { InputError } from "../errors.ts";
import { classifyOutput, followLinks, sameFile, type OutputTarget } from "./output.ts";

export interface OutputSpec {
  path: string;
  /** How messages name it: "--results", "-o", "the output"... */
  what: string;
}

export interface InputSpec {
  path: string;
  /** How messages name it: "the scenario", "--trace"... */
  what: string;
}

function statOf(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}


function writable(path: string): string | undefined {
  try {
    accessSync(path, constants.W_OK);
    return undefined;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

/** The folder `target` goes into must exist, be a folder and be writable (temporary files go there). */
function checkFolder(o: OutputSpec, folder: string): void {
  const st = statOf(folder);
  if (st === undefined) throw new InputError(`${o.what}: the directory ${folder} does not exist`, o.path);
  if (!st.isDirectory()) throw new InputError(`${o.what}: ${folder} is not a directory`, o.path);
  const code = writable(folder);
  if (code !== undefined) throw new InputError(`${o.what}: the directory ${folder} is not writable (${code})`, o.path);
}

/** Checks one output file; returns what writing it means. */
function checkOutput(o: OutputSpec): OutputTarget {
  const t = classifyOutput(o.path, o.what);
  if (t.kind === "stdout") return t;
  if (t.kind === "replace") checkFolder(o, dirname(t.target) || ".");
  if (t.stats) {
    const code = writable(t.target);
    if (code !== undefined) throw new InputError(`${o.what}: the file is not writable (${code})`, o.path);
  }
  return t;
}

export interface PreflightOptions {
  outputs: OutputSpec[];
  inputs?: InputSpec[];
  /** An output folder (sweep -o DIR): created when missing (its parent must exist), else a writable folder. */
  folder?: OutputSpec;
}

/** Runs every check of the top of this file; throws the first problem as an InputError. */
export function preflight(p: PreflightOptions): void {
  if (p.folder) {
    const f = p.folder;
    if (f.path === "-") throw new InputError(`${f.what}: expected a folder; - (standard output) cannot hold several files`);
    const st = statOf(f.path);
    if (st === undefined) checkFolder(f, dirname(resolve(f.path)));
    else if (!st.isDirectory()) throw new InputError(`${f.what}: is not a folder (a sweep writes several files into it)`, f.path);
    else {
      const code = writable(f.path);
      if (code !== undefined) throw new InputError(`${f.what}: the folder is not writable (${code})`, f.path);
    }
  }
  const checked = p.outputs.map((o) => ({ o, t: checkOutput(o) }));

  const stdout = checked.filter((c) => c.t.kind === "stdout");
  if (stdout.length > 1) throw new InputError(`${stdout.map((c) => c.o.what).join(" and ")} name standard output (- or /dev/stdout); at most one output may be standard output`);

  // Two outputs replacing the same file would each overwrite the other.
  const replaced = checked.filter((c) => c.t.kind === "replace");
  for (let i = 0; i < replaced.length; i++)
    for (let j = 0; j < i; j++) {
      const a = replaced[i]!, b = replaced[j]!;
      const same = resolve(a.t.target) === resolve(b.t.target) || (a.t.stats && b.t.stats && sameFile(a.t.stats, b.t.stats));
      if (same) throw new InputError(`${b.o.what} and ${a.o.what} name the same file`, a.o.path);
    }

  // An output replacing an input would destroy it.
  for (const input of p.inputs ?? []) {
    if (input.path === "-") continue;
    const st = statOf(input.path);
    if (st === undefined || !st.isFile()) continue; // the reader reports a missing input
    for (const { o, t } of replaced)
      if (t.stats && sameFile(t.stats, st))
        throw new InputError(`${o.what}: is the same file as ${input.what} (${input.path}); refusing to overwrite an input`, o.path);
    if (p.folder) {
      const inside = relative(resolve(p.folder.path, "points"), resolve(followLinks(input.path)));
      if (inside !== "" && !inside.startsWith("..") && !inside.startsWith(sep) && !/^[A-Za-z]:/.test(inside))
        throw new InputError(`${p.folder.what}: ${input.what} (${input.path}) is inside ${resolve(p.folder.path, "points")}, which the sweep replaces; refusing to delete an input`, p.folder.path);
    }
  }
}
