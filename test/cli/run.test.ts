import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { RunSession, type RunOptions } from "../../src/cli/run.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(root, "bin/iommu-emu.mjs");
const dir = mkdtempSync(join(tmpdir(), "iommu-emu-cli-"));
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8" });

const scenario = {
  arch: "vtd",
  build: {
    domains: [
      { id: 1, type: "ss", mappings: [{ iova: "0x1000", pa: "0x80000000", size: "0x1000", perm: "r", snp: true }] },
      { id: 2, type: "fs", mappings: [{ iova: "0x7f0000001000", pa: "0x1a2b3c000", size: "0x1000" }] },
    ],
    devices: [
      { bdf: "00:02.0", domain: 1, paside: false },
      { bdf: "00:03.0", domain: 1 },
      { bdf: "00:03.0", pasid: 5, domain: 2 },
    ],
  },
  trace: [
    "MRd 00:02.0 addr=0x1040 ns",
    "MWr 00:02.0 addr=0x1040",
    "MRd 00:02.0 pasid=5 addr=0x1000",
    "MWr 00:03.0 pasid=5 addr=0x7f0000001040 ns",
    "MWr 00:02.0 addr=0xfee00000",
  ],
};
const scnFile = join(dir, "s.json");
writeFileSync(scnFile, JSON.stringify(scenario, null, 2));

test("run writes per-TLP results in trace order with exact addresses, faults and snoop outcomes", () => {
  const out = join(dir, "r.jsonl");
  const r = cli("run", scnFile, "--results", out, "--report", join(dir, "rep.json"));
  assert.is(r.status, 0, r.stderr);
  const rows = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.is(rows.length, 5);
  assert.equal(rows.map((x) => x.seq), [0, 1, 2, 3, 4]);
  // 1: SS leaf with SNP forces the No-Snoop read to snoop (ECAP.SC=1 in the default profile)
  assert.is(rows[0].status, "ok");
  assert.is(rows[0].pa, "0x80000040");
  assert.is(rows[0].snoop, true);
  assert.is(rows[0].snoopBy, "pte");
  assert.is(rows[0].pageSize, 4096);
  // 2: read-only page
  assert.equal(rows[1].fault, { code: 0x85, name: "SGN.6", recorded: true });
  // 3: device with PASIDE=0 sends a request with PASID
  assert.equal(rows[2].fault, { code: 0x45, name: "SCT.6", recorded: true });
  // 4: first stage: no snoop bit in FS PTEs, no PGSNP: the TLP's No-Snoop decides
  assert.is(rows[3].pa, "0x1a2b3c040");
  assert.is(rows[3].pasid, 5);
  assert.is(rows[3].snoop, false);
  assert.is(rows[3].snoopBy, "tlp");
  // 5: MSI
  assert.is(rows[4].status, "interrupt");
  const rep = JSON.parse(readFileSync(join(dir, "rep.json"), "utf8"));
  assert.is(rep.tlps, 5);
  assert.is(rep.translated, 2);
  assert.is(rep.faulted, 2);
  assert.is(rep.interrupts, 1);
  assert.equal(rep.faults.map((f: { name: string }) => f.name), ["SCT.6", "SGN.6"]);
  assert.is(rep.snoop.noSnoopTlps, 2);
  assert.is(rep.snoop.noSnoopForcedByPte, 1);
  assert.match(r.stdout, /TLPs\s+5/);
});

test("bad input exits 2 with file:line:column, and leaves no output file behind", () => {
  const bad = join(dir, "bad.json");
  writeFileSync(bad, JSON.stringify({ ...scenario, trace: ["MRd 00:02.0 addr=0x1000", "MRd 00:02.0 adr=0x1000"] }, null, 2));
  const out = join(dir, "bad.jsonl");
  const before = readdirSync(dir).length;
  const r = cli("run", bad, "--results", out);
  assert.is(r.status, 2);
  const line = readFileSync(bad, "utf8").split("\n").findIndex((l) => l.includes("adr=")) + 1;
  assert.match(r.stderr, new RegExp(`bad\\.json:${line}:\\d+: unknown token "adr=0x1000"`));
  assert.not.ok(existsSync(out));
  assert.is(readdirSync(dir).length, before, "no temporary file left");
});

test("an existing results file is not touched by a failed run", () => {
  const out = join(dir, "keep.jsonl");
  writeFileSync(out, "precious\n");
  const r = cli("run", join(dir, "missing.json"), "--results", out);
  assert.is(r.status, 2);
  assert.match(r.stderr, /missing\.json: cannot read the file \(ENOENT\)/);
  assert.is(readFileSync(out, "utf8"), "precious\n");
});

test("unknown options and a bad --core are input errors (exit 2)", () => {
  assert.is(cli("run", scnFile, "--bogus").status, 2);
  const r = cli("run", scnFile, "--core", "fast");
  assert.is(r.status, 2);
  assert.match(r.stderr, /--core: expected "release" or "debug", got "fast"/);
});

test("npm start's example replays and prints a summary with faults and No-Snoop TLPs", () => {
  const r = cli("run", "examples/vtd-sm/scenario.json");
  assert.is(r.status, 0, r.stderr);
  const tlps = Number(/TLPs\s+(\d+)/.exec(r.stdout)![1]);
  assert.ok(tlps >= 3000, `example has ${tlps} TLPs`);
  assert.match(r.stdout, /Faults by reason/);
  assert.match(r.stdout, /No-Snoop TLPs translated\s+[1-9]/);
  // the same example on the debug core gives the same summary counts
  const d = cli("run", "examples/vtd-sm/scenario.json", "--core", "debug");
  assert.is(d.status, 0, d.stderr);
  const strip = (s: string) => s.split("\n").filter((l) => !/^Host:|^iommu-emu run/.test(l)).join("\n");
  assert.is(strip(d.stdout), strip(r.stdout));
});

test("ATS result lines carry the completion; a translated request is served by the device-TLB", () => {
  const f = join(dir, "ats.json");
  writeFileSync(f, JSON.stringify({
    arch: "vtd",
    build: {
      domains: [{ id: 1, type: "fs", mappings: [{ iova: "0x1000", pa: "0x5000", size: "0x1000", perm: "rw", global: true }] }],
      devices: [{ bdf: "00:02.0", pasid: 3, domain: 1, ats: true }],
    },
    trace: ["ATS 00:02.0 pasid=3 addr=0x1010 nw", "MRd 00:02.0 pasid=3 addr=0x1010 at=translated", "MWr 00:02.0 pasid=3 addr=0x1010 at=translated"],
  }));
  const out = join(dir, "ats.jsonl");
  const r = cli("run", f, "--results", out);
  assert.is(r.status, 0, r.stderr);
  const rows = readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.is(rows[0].pa, "0x5010");
  assert.is(rows[0].perm, "ru", "NW=1: no write right in the completion");
  assert.is(rows[0].global, true);
  assert.is(rows[0].priv, false);
  assert.is(rows[0].n, true);
  assert.is(rows[1].atc, true);
  assert.is(rows[1].pa, "0x5010");
  assert.is(rows[2].status, "blocked", "the cached completion has no write right: the device does not issue the write");
});

test("the core is told results go unread only when no output reads per-TLP results (--results, --html, --expect-faults)", () => {
  const session = (o: RunOptions) => {
    const s = new RunSession(scnFile, { quiet: true, ...o });
    const read = s.replayer.resultsRead;
    s.advance(Infinity);
    return { read, summary: s.finish(false) };
  };
  const none = session({});
  assert.is(none.read, false);
  // --report is the summary as JSON, written from the counters: results still unread
  const report = session({ report: join(dir, "unread-rep.json") });
  assert.is(report.read, false);
  const withResults = session({ results: join(dir, "unread-r.jsonl") });
  assert.is(withResults.read, true);
  assert.is(session({ html: join(dir, "unread.html") }).read, true);
  assert.is(session({ expectFaults: true }).read, true);
  // the same counts either way (the host time line aside)
  const counts = (t: string) => t.split("\n").filter((l) => !/TLPs\/s|seconds/.test(l)).join("\n");
  assert.is(counts(none.summary), counts(withResults.summary));
  assert.match(none.summary, /TLPs +5\n +translated +2 /);
  const rep = JSON.parse(readFileSync(join(dir, "unread-rep.json"), "utf8"));
  assert.equal([rep.translated, rep.faulted, rep.interrupts, rep.snoop.noSnoopTlps], [2, 2, 1, 2]);
});

test.run();
