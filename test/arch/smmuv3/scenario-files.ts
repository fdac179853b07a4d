/**
 * Scenario files for the SMMUv3 scenario tests (scenario.test.ts, iort.test.ts): each object written
 * to its own JSON file in a temporary folder removed after the suite, and the InputError message a
 * file's loading gives.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadScenario } from "../../../src/scenario.ts";
import { InputError } from "../../../src/errors.ts";

/** `after`: the suite's hook that runs once it is done (uvu's test.after). */
export function scenarioFiles(prefix: string, after: (f: () => void) => void) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  return {
    scenario(s: unknown): string {
      const file = join(dir, `s${n++}.json`);
      writeFileSync(file, JSON.stringify(s, null, 2));
      return file;
    },
    loadError(file: string): string {
      try {
        loadScenario(file);
      } catch (e) {
        if (e instanceof InputError) return e.message;
        throw e;
      }
      throw new Error("expected an InputError");
    },
  };
}
