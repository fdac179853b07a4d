// npm's `prepare` script (README "Install"). npm runs it on `npm install` and `npm ci` in a clone,
// where it builds the cores and dist/ (npm run build), and again on `npm pack` and `npm publish`,
// right after `prepack`, which has just built the same: then it does nothing. It ships in the
// package (npm may run a `prepare` script when the package is installed from a tarball or a
// folder, if allowed): there, with no sources beside it, there is nothing to build. A plain .mjs
// file: it runs before anything is built.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

if (process.env.npm_command === "pack" || process.env.npm_command === "publish") process.exit(0);
if (!existsSync(new URL("../src/cli.ts", import.meta.url))) process.exit(0);
const npm = process.env.npm_execpath;
const r = npm ? spawnSync(process.execPath, [npm, "run", "build"], { stdio: "inherit" }) : spawnSync("npm", ["run", "build"], { stdio: "inherit", shell: true });
process.exit(r.status ?? 1);
