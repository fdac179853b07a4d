// A fuzz worker thread. A plain .mjs file because Node 20 cannot start a worker from a .ts file
// (see src/sweep/worker.mjs): it loads the TypeScript through tsx and runs one target.
import { parentPort, workerData } from "node:worker_threads";
import { tsImport } from "tsx/esm/api";

const { workerMain } = await tsImport("./worker-main.ts", import.meta.url);
workerMain(workerData, parentPort);
