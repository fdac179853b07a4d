/**
 * Output paths are checked before any work starts, by the same rules in every command
 * (src/io/preflight.ts): a missing directory, a directory given as a file, an unwritable place, an
 * output that is an input (also through a hard or a symbolic link), two outputs naming one file.
 * Each exits 2 with one line naming the path and the rule, and the folder is left exactly as it was.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { chmodSync, linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TRACE, bin, cli, listing, removeDir, tempDir, writeScenario } from "./helpers.ts";

const dir = tempDir("preflight");
test.after(() => removeDir(dir));
const at = (n: string) => join(dir, n);
writeScenario(dir);
writeFileSync(at("t.trace"), TRACE);
writeFileSync(at("sweep.json"), JSON.stringify({ scenarios: ["s.json"] }));
mkdirSync(at("adir"));

/** Runs the CLI in `dir`; expects exit 2 with exactly `message` and no change to the folder. */
function refused(args: string[], message: string): void {
  const before = listing(dir);
  const r = cli(args, { cwd: dir });
  assert.is(r.stderr, `iommu-emu: ${message}\n`, args.join(" "));
  assert.is(r.status, 2);
  assert.is(r.stdout, "");
  assert.equal(listing(dir), before, "nothing changed");
}

test("a missing directory: the same message in every command (none creates it)", () => {
  refused(["run", "s.json", "--results", "no/r.jsonl"], "no/r.jsonl: --results: the directory no does not exist");
  refused(["run", "s.json", "--html", "no/x/r.html"], "no/x/r.html: --html: the directory no/x does not exist");
  refused(["convert", "t.trace", "no/t.itb"], "no/t.itb: the output: the directory no does not exist");
  refused(["gen", "stream", "--tlps", "10", "-o", "no/g.json"], "no/g.trace: the trace (-o FILE's .trace): the directory no does not exist");
  refused(["merge", "adir", "-o", "no/m.json"], "no/m.json: -o: the directory no does not exist");
  // sweep's -o DIR may be created; its parent must exist
  refused(["sweep", "sweep.json", "-o", "no/out"], `no/out: -o: the directory ${join(dir, "no")} does not exist`);
});

test("a directory where a file is expected, a file where a folder is expected", () => {
  refused(["run", "s.json", "--report", "adir"], "adir: --report: is a directory; expected a file name");
  refused(["convert", "t.trace", "adir", "--to", "text"], "adir: the output: is a directory; expected a file name");
  refused(["gen", "stream", "--tlps", "10", "-o", "adir"], "adir: -o: is a directory; expected a file name");
  refused(["sweep", "sweep.json", "-o", "t.trace"], "t.trace: -o: is not a folder (a sweep writes several files into it)");
});

test("an output that is an input is refused: the file itself, a hard link, a symbolic link, the scenario's own trace", () => {
  refused(["run", "s.json", "--trace", "t.trace", "--results", "t.trace"], `t.trace: --results: is the same file as --trace (t.trace); refusing to overwrite an input`);
  refused(["run", "s.json", "--report", "s.json"], `s.json: --report: is the same file as the scenario (s.json); refusing to overwrite an input`);
  refused(["run", "s.json", "--results", "t.trace"], `t.trace: --results: is the same file as the scenario's trace (${at("t.trace")}); refusing to overwrite an input`);
  linkSync(at("t.trace"), at("hard.trace"));
  symlinkSync("t.trace", at("soft.trace"));
  refused(["run", "s.json", "--trace", "t.trace", "--html", "hard.trace"], `hard.trace: --html: is the same file as --trace (t.trace); refusing to overwrite an input`);
  refused(["convert", "soft.trace", "t.trace"], `t.trace: the output: is the same file as the input (soft.trace); refusing to overwrite an input`);
  refused(["convert", "t.trace", "hard.trace"], `hard.trace: the output: is the same file as the input (t.trace); refusing to overwrite an input`);
  assert.is(readFileSync(at("t.trace"), "utf8"), TRACE, "the victim is intact");
});

test("two outputs naming one file (also through a link) are refused", () => {
  refused(["run", "s.json", "--results", "x.json", "--report", "x.json"], "x.json: --results and --report name the same file");
  symlinkSync("y.json", at("y-link.json"));
  refused(["run", "s.json", "--report", "y.json", "--html", "y-link.json"], "y-link.json: --report and --html name the same file");
});

test("a sweep refuses to replace its own inputs: a trace inside -o DIR/points", () => {
  mkdirSync(at("out/points"), { recursive: true });
  writeFileSync(at("out/points/keep.trace"), TRACE);
  writeFileSync(at("sweep2.json"), JSON.stringify({ scenarios: ["s.json"], traces: ["out/points/keep.trace"] }));
  refused(
    ["sweep", "sweep2.json", "-o", "out"],
    `out: -o: a file the sweep reads (out/points/keep.trace) is inside ${at("out/points")}, which the sweep replaces; refusing to delete an input`,
  );
});

test("an unwritable place (checked as an unprivileged user when run as root)", () => {
  mkdirSync(at("ro"));
  writeFileSync(at("ro/old.json"), "{}\n");
  chmodSync(at("ro"), 0o555);
  chmodSync(dir, 0o755);
  const asUser = process.getuid?.() === 0 ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];
  const run = (args: string[]) => {
    const argv = [...asUser, process.execPath, bin, ...args];
    return spawnSync(argv[0]!, argv.slice(1), { cwd: dir, encoding: "utf8" });
  };
  const before = listing(dir);
  let r = run(["run", "s.json", "--results", "ro/r.jsonl"]);
  assert.is(r.stderr, "iommu-emu: ro/r.jsonl: --results: the directory ro is not writable (EACCES)\n");
  assert.is(r.status, 2);
  r = run(["convert", "t.trace", "ro/old.json", "--to", "text"]);
  assert.is(r.stderr, "iommu-emu: ro/old.json: the output: the directory ro is not writable (EACCES)\n");
  r = run(["sweep", "sweep.json", "-o", "ro/out"]);
  assert.is(r.stderr, `iommu-emu: ro/out: -o: the directory ${at("ro")} is not writable (EACCES)\n`);
  assert.equal(listing(dir), before);
  chmodSync(at("ro"), 0o755);
});

test("checked before the work: a bad output costs no replay (its scenario is not even loaded)", () => {
  writeFileSync(at("broken.json"), "{ not json");
  refused(["run", "broken.json", "--results", "no/r.jsonl"], "no/r.jsonl: --results: the directory no does not exist");
});

test.run();
