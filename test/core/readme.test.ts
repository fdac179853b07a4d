import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { renderReadme } from "../../scripts/gen-readme.ts";

test("README's generated tables match the parameter catalogue and the fault table", () => {
  const text = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  assert.is(text, renderReadme(text), "run: node --import tsx scripts/gen-readme.ts");
});

test("README names the quick-start commands", () => {
  const text = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  for (const cmd of ["npm install", "npm start", "npm test", "npm run bench"]) assert.ok(text.includes(cmd), cmd);
});

test.run();
