/**
 * `iommu-emu examples` lists the example scenarios that come with the package
 * (examples/NAME/scenario.json at its root, shipped in the npm package), and `run example:NAME`
 * runs one by its name wherever the package is installed (README "Install").
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { InputError, quote } from "../errors.ts";
import { textTable } from "../report/text-table.ts";

/** The bundled examples' folder: examples/ at the package's root, from src/cli/ and dist/cli/ alike. */
export const examplesDir = fileURLToPath(new URL("../../examples/", import.meta.url));

/** What names a bundled example on the command line: `example:NAME`. */
export const EXAMPLE_PREFIX = "example:";

export interface Example {
  name: string;
  /** The scenario's `description` ("" when it has none). */
  description: string;
  /** Its scenario file (absolute). */
  path: string;
}

/** Every bundled example (a folder of `dir` with a scenario.json), by name. */
export function listExamples(dir = examplesDir): Example[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, "scenario.json")))
    .map((e) => {
      const path = join(dir, e.name, "scenario.json");
      const { description } = JSON.parse(readFileSync(path, "utf8")) as { description?: unknown };
      return { name: e.name, description: typeof description === "string" ? description : "", path };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The first sentence of a description (up to a full stop followed by a space, or all of it), on one line. */
export function firstSentence(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  const end = line.search(/\.\s/);
  return end < 0 ? line : line.slice(0, end + 1);
}

/** `path` relative to the working folder when it is inside it, else as it is. */
function shown(path: string): string {
  const r = relative(process.cwd(), path);
  return r && !r.startsWith("..") ? r : path;
}

/**
 * The scenario file a command-line argument names: `example:NAME` is the bundled example NAME,
 * anything else is a path and is returned as it is.
 */
export function resolveScenarioArg(arg: string, dir = examplesDir): string {
  if (!arg.startsWith(EXAMPLE_PREFIX)) return arg;
  const name = arg.slice(EXAMPLE_PREFIX.length);
  const examples = listExamples(dir);
  const found = examples.find((e) => e.name === name);
  if (!found) {
    const names = examples.map((e) => e.name).join(", ");
    throw new InputError(`${quote(arg)}: no bundled example is named ${quote(name)}; expected one of: ${names} (iommu-emu examples lists them)`);
  }
  return shown(found.path);
}

/** The listing `iommu-emu examples` prints. */
export function formatExamples(examples: readonly Example[]): string {
  const rows = examples.map((e) => [e.name, firstSentence(e.description) || "-", shown(e.path)]);
  return [...textTable([["name", "description", "scenario"], ...rows], { header: true }), "", `run one with: iommu-emu run ${EXAMPLE_PREFIX}NAME`].join("\n");
}

export function registerExamples(program: Command): void {
  program.command("examples").action(() => {
    process.stdout.write(formatExamples(listExamples()) + "\n");
  });
}
