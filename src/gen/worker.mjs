// The worker thread of `iommu-emu gen` (src/cli/gen.ts): writes the trace and the scenario to the
// file descriptors the main thread opened, so that the main thread stays free to handle Ctrl-C.
// A plain .mjs file because Node 20 cannot start a worker thread from a .ts file, even under tsx
// (the same shim as src/sweep/worker.mjs; importHost loads the .ts source or, in dist/, the .js).
import { parentPort, workerData } from "node:worker_threads";
import { importHost } from "../util/import-host.mjs";

const { writeToDescriptors } = await importHost("./index", import.meta.url);
const { InputError } = await importHost("../errors", import.meta.url);

const { name, raw, out, traceFd, scenarioFd } = workerData;
try {
  parentPort.postMessage({ ok: true, result: writeToDescriptors(name, raw, out, traceFd, scenarioFd) });
} catch (e) {
  parentPort.postMessage({ ok: false, input: e instanceof InputError, message: e instanceof InputError ? e.message : (e?.stack ?? String(e)) });
}
