/**
 * `iommu-emu gen <workload> [options] -o FILE`: synthetic workloads (src/gen/, README "Generators").
 *
 * The options are checked and the workload planned here; the outputs (the scenario, and its trace
 * beside it) are checked (src/io/preflight.ts) and opened here (src/io/output.ts); a worker thread
 * (src/gen/worker.mjs) writes them, so that Ctrl-C, handled on this thread, stops it at once:
 * the worker is terminated and the temporary files removed (exit 130).
 */
import { Worker } from "node:worker_threads";
import type { Command } from "commander";
import { InputError } from "../errors.ts";
import { commonOptions, describeGen, helpOf, planGeneration, workloadHelp, workloads, type GenJob, type GenResult } from "../gen/index.ts";
import type { RawOptions } from "../gen/options.ts";
import { abortAll, openOutputs } from "../io/output.ts";
import { preflight } from "../io/preflight.ts";
import { runInterruptible } from "../io/interrupt.ts";

type WorkerReply = { ok: true; result: GenResult } | { ok: false; input: boolean; message: string };

/** `iommu-emu gen <workload>` from the command line (see the top of this file). */
export async function genInteractive(job: GenJob, raw: RawOptions, signal: AbortSignal): Promise<GenResult> {
  preflight({ outputs: [{ path: job.traceFile, what: "the trace (-o FILE's .trace)" }, { path: job.out, what: "-o" }] });
  const [traceOut, scenarioOut] = await openOutputs([[job.traceFile, "the trace"], [job.out, "-o"]], signal);
  const outputs = [traceOut!, scenarioOut!];
  const worker = new Worker(new URL("../gen/worker.mjs", import.meta.url), {
    workerData: { name: job.name, raw, out: job.out, traceFd: traceOut!.descriptor, scenarioFd: scenarioOut!.descriptor },
  });
  try {
    const reply = await new Promise<WorkerReply>((resolve, reject) => {
      const stop = () => reject(signal.reason);
      signal.addEventListener("abort", stop, { once: true });
      worker.once("message", resolve);
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`the generator's worker thread exited (code ${code}) without a result`)));
    });
    if (!reply.ok) throw reply.input ? new InputError(reply.message) : new Error(reply.message);
    for (const f of outputs) f.commit();
    return reply.result;
  } catch (e) {
    await worker.terminate();
    abortAll(outputs);
    throw e;
  } finally {
    void worker.terminate();
  }
}

export function registerGen(program: Command): void {
  const gen = program
    .command("gen")
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
      const { out, ...raw } = opts;
      // Option errors exit 2 here, before anything runs.
      const job = planGeneration(w.name, raw, out === undefined ? undefined : String(out));
      return runInterruptible(async (signal) => {
        process.stdout.write(describeGen(await genInteractive(job, raw, signal)) + "\n");
      });
    });
  }
}
