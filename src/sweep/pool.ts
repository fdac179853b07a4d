/**
 * The worker pool of a sweep: piscina with a fixed number of threads, each running
 * src/sweep/worker.mjs (a .mjs shim that loads point.ts through tsx, point.js in dist/; Node 20 cannot start a .ts
 * worker). One core instance per point, one point per thread at a time.
 */
import { availableParallelism } from "node:os";
import { Piscina } from "piscina";
import type { PointOutcome, PointTask } from "./point.ts";

export class PointPool {
  private readonly pool: Piscina<PointTask, PointOutcome>;
  readonly workers: number;

  constructor(workers = availableParallelism()) {
    this.workers = workers;
    this.pool = new Piscina<PointTask, PointOutcome>({
      filename: new URL("./worker.mjs", import.meta.url).href,
      minThreads: workers,
      maxThreads: workers,
      idleTimeout: 60_000,
      // Everything is queued at once; the queue is as long as the sweep.
      maxQueue: Infinity,
    });
  }

  run(task: PointTask, signal?: AbortSignal): Promise<PointOutcome> {
    return this.pool.run(task, signal ? { signal } : {});
  }

  /** Stops every thread; queued tasks are rejected. */
  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}
