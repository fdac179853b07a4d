/**
 * Regenerates the README's generated sections from their single sources: the parameter catalogue
 * (src/config/schema.ts), the budgets (src/config/limits.ts), the timing presets (src/config/timing.ts) and the fault-reason table
 * (src/core/abi.ts). test/core/readme.test.ts
 * checks the README is current. Run: node --import tsx scripts/gen-readme.ts
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parameterCatalogue } from "../src/config/schema.ts";
import { vtdFaults } from "../src/core/abi.ts";
import { presets } from "../src/config/timing.ts";
import { limitCatalogue } from "../src/config/limits.ts";

const sections: Record<string, () => string> = {
  params: () =>
    [
      "| key (under `config`) | type | default | unit | meaning |",
      "| --- | --- | --- | --- | --- |",
      ...Object.entries(parameterCatalogue).map(([k, p]) => `| \`${k}\` | ${p.type.replace(/\|/g, "\\|")} | \`${JSON.stringify(p.default)}\` | ${p.unit || "-"} | ${p.doc} |`),
    ].join("\n"),
  presets: () =>
    [
      "| preset | sets (over the catalogue defaults) | where the numbers come from |",
      "| --- | --- | --- |",
      ...Object.entries(presets).map(([name, p]) => {
        const timing = Object.entries(p.timing).map(([k, v]) => `${k} ${JSON.stringify(v)}`);
        const caches = Object.entries(p.caches).map(([c, v]) => `${c} {${Object.entries(v).map(([k, x]) => `${k} ${JSON.stringify(x)}`).join(", ")}}`);
        const sets = [...timing, ...caches].join("; ") || "nothing: the catalogue defaults";
        return `| \`${name}\` | ${sets.replace(/\|/g, "\\|")} | ${p.doc.replace(/\|/g, "\\|")} |`;
      }),
    ].join("\n"),
  limits: () =>
    [
      "| budget (`config.limits.NAME`, `--limit NAME=N`) | default | counts | what it bounds |",
      "| --- | --- | --- | --- |",
      ...Object.entries(limitCatalogue).map(([k, l]) => `| \`${k}\` | ${l.default} | ${l.unit} | ${l.doc} |`),
    ].join("\n"),
  faults: () =>
    [
      "| code | condition | FPD can suppress recording | meaning |",
      "| --- | --- | --- | --- |",
      ...vtdFaults.map((f) => `| 0x${f.code.toString(16).padStart(2, "0")} | ${f.id} | ${f.qualified ? "yes" : "no"} | ${f.text} |`),
    ].join("\n"),
};

export function renderReadme(text: string): string {
  for (const [name, render] of Object.entries(sections)) {
    const re = new RegExp(`(<!-- BEGIN GENERATED: ${name} -->)[\\s\\S]*?(<!-- END GENERATED: ${name} -->)`);
    if (!re.test(text)) throw new Error(`README has no generated section "${name}"`);
    text = text.replace(re, (_, a: string, b: string) => `${a}\n${render()}\n${b}`);
  }
  return text;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = fileURLToPath(new URL("../README.md", import.meta.url));
  writeFileSync(file, renderReadme(readFileSync(file, "utf8")));
}
