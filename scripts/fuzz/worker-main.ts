/** What a fuzz worker thread does (worker.mjs loads it): runs one target, posts failures and the report. */
import type { MessagePort } from "node:worker_threads";
import { makeTarget } from "./targets.ts";
import { runTarget } from "./run.ts";

export interface WorkerJob {
  target: string;
  runs: number;
  seed: number;
  hangMs: number;
  progress: SharedArrayBuffer;
}

export function workerMain(job: WorkerJob, port: MessagePort): void {
  const target = makeTarget(job.target);
  const report = runTarget(target, {
    runs: job.runs,
    seed: job.seed,
    hangMs: job.hangMs,
    progress: new Int32Array(job.progress),
    onFailure: (failure) => port.postMessage({ failure }),
  });
  port.postMessage({ report });
}
