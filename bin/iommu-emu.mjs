#!/usr/bin/env node
// Entry point: registers tsx so the TypeScript host runs without a build step, then hands over.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli.ts");
process.exitCode = main(process.argv.slice(2));
