// The sweep's piscina worker. A plain .mjs file because Node 20 cannot start a worker thread from
// a .ts file, even under tsx (ERR_UNKNOWN_FILE_EXTENSION; shared/notes/ecosystem.md §0): this shim
// loads the TypeScript through tsx's tsImport and hands piscina the task function. Each worker
// thread compiles the WebAssembly core once and instantiates it per point.
import { tsImport } from "tsx/esm/api";

const { runPoint } = await tsImport("./point.ts", import.meta.url);

export default runPoint;
