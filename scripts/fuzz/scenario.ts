/**
 * Scenario fuzzing: real scenarios (examples/vtd-sm/scenario.json and the scenario of every
 * `gen` workload) with their keys, values and types mutated in every section (mutate-json.ts),
 * loaded as `iommu-emu run` loads them (loadScenario: validation, budgets, the builder). Every
 * outcome is a loaded platform or an InputError at file:line:column (a message without a raw
 * control character); anything else is a bug, and so is a load slower than the case bound (run.ts).
 */
import * as fc from "fast-check";
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadScenario } from "../../src/scenario.ts";
import { generate, workloadNames } from "../../src/gen/index.ts";
import { FuzzProblem, type FuzzTarget } from "./target.ts";
import { applyJsonEdits, jsonEditArb, type JsonEdit } from "./mutate-json.ts";
import { inputOutcome } from "./parsers.ts";

export interface ScenarioCase {
  doc: number;
  edits: JsonEdit[];
  indent: number;
}

/** The real scenarios, written to a scratch folder with their traces beside them. */
function corpus(dir: string): unknown[] {
  const example = new URL("../../examples/vtd-sm/", import.meta.url);
  copyFileSync(new URL("dma.trace", example), join(dir, "dma.trace"));
  const docs: unknown[] = [JSON.parse(readFileSync(new URL("scenario.json", example), "utf8"))];
  for (const name of workloadNames()) {
    const sub = mkdtempSync(join(dir, `${name}-`));
    generate(name, {}, join(sub, "scenario.json"));
    for (const f of readdirSync(sub)) if (f.endsWith(".trace")) copyFileSync(join(sub, f), join(dir, f));
    docs.push(JSON.parse(readFileSync(join(sub, "scenario.json"), "utf8")));
  }
  return docs;
}

export function scenarioTarget(): FuzzTarget<ScenarioCase> {
  const dir = mkdtempSync(join(tmpdir(), "iommu-emu-fuzz-scenario-"));
  const docs = corpus(dir);
  let n = 0;
  return {
    name: "scenario",
    arbitrary: fc.record({ doc: fc.nat(), edits: fc.array(jsonEditArb, { minLength: 1, maxLength: 5 }), indent: fc.constantFrom(0, 2) }),
    check({ doc, edits, indent }) {
      const text = JSON.stringify(applyJsonEdits(docs[doc % docs.length], edits), null, indent);
      const file = join(dir, `case-${n++ % 8}.json`);
      writeFileSync(file, text);
      const out = inputOutcome("loadScenario", () => loadScenario(file, { build: "release", functional: true }), file);
      if ("error" in out && !new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\\d+:\\d+: `).test(out.error.message))
        throw new FuzzProblem(`the error names no line and column: ${out.error.message}`);
      return 1;
    },
  };
}
