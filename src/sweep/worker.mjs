// The sweep's piscina worker. A plain .mjs file because Node 20 cannot start a worker thread from
// a .ts file: it loads point.ts (or, in dist/, point.js) through importHost and hands piscina the
// task function. Each worker thread compiles the WebAssembly core once and instantiates it per point.
import { importHost } from "../util/import-host.mjs";

const { runPoint } = await importHost("./point", import.meta.url);

export default runPoint;
