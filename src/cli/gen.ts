/** `iommu-emu gen <workload> [options] -o FILE`: synthetic workloads (src/gen/, README "Generators"). */
import type { Command } from "commander";
import { commonOptions, genCommand, helpOf, workloadHelp, workloads } from "../gen/index.ts";
import type { RawOptions } from "../gen/options.ts";

export function registerGen(program: Command): void {
  const gen = program
    .command("gen")
    .description("write a synthetic workload: a scenario (-o FILE) and its trace beside it (FILE.trace), deterministic by --seed")
    .usage("<workload> [options] -o FILE")
    .addHelpText("after", "\n" + workloadHelp());
  for (const w of workloads) {
    const cmd = gen
      .command(w.name)
      .description(w.summary)
      .requiredOption("-o, --out <file>", "the scenario to write; the trace goes beside it as <file>.trace");
    for (const spec of [...w.options, ...commonOptions]) {
      const h = helpOf(spec);
      cmd.option(h.flags, h.text);
    }
    cmd.action((opts: RawOptions & { out?: string }) => {
      process.stdout.write(genCommand(w.name, opts) + "\n");
    });
  }
}
