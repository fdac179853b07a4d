/**
 * bench/profile.ts refuses bad arguments before it builds or runs anything (exit status 2, one line
 * naming the option and what was expected). Its profiles themselves are statistical and take
 * seconds of sampling, so they are not tested here.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const profile = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", "bench/profile.ts", ...args], { cwd: root, encoding: "utf8" });

test("--seconds out of range, an unknown case, --top 0 and an unknown option are refused", () => {
  const cases: [string[], string][] = [
    [["--seconds", "0"], "bench/profile: --seconds 0: expected a number from 1 to 600"],
    [["--seconds", "601"], "bench/profile: --seconds 601: expected a number from 1 to 600"],
    [["--case", "nope"], "bench/profile: --case nope: expected a translation case of bench/workloads.ts with the default trace length"],
    [["--case", "binary-ingest"], "bench/profile: --case binary-ingest: expected a translation case"],
    [["--top", "0"], "bench/profile: --top 0: expected a whole number from 1"],
    [["--bogus"], "bench/profile: Unknown option '--bogus'"],
  ];
  for (const [argv, message] of cases) {
    const r = profile(...argv);
    assert.is(r.status, 2, argv.join(" "));
    assert.ok(r.stderr.startsWith(message), `${argv.join(" ")}: ${r.stderr}`);
  }
});

test.run();
