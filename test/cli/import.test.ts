/**
 * `iommu-emu convert` with importers: the summary on standard error; an input of another format
 * (exit 2, what it looks like, no output); `--from auto` on every fixture (the same trace as the
 * importer named); the input format without --from (extension, binary magic, then detection, then
 * text).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { convertCommand } from "../../src/cli/convert.ts";
import kernelOld from "../fixtures/importers/kernel-old.ts";
import kernelRecent from "../fixtures/importers/kernel-recent.ts";
import perfScript from "../fixtures/importers/perf-script.ts";
import { FIXTURES } from "../trace/importers/fixtures.ts";
import { inputError } from "../trace/importers/util.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(root, "bin/iommu-emu.mjs");
const dir = mkdtempSync(join(tmpdir(), "iommu-emu-import-"));
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8" });
const at = (name: string) => join(dir, name);

test("CLI: an import prints its summary on standard error, the conversion on standard output", () => {
  writeFileSync(at("kernel.log"), kernelRecent);
  const r = cli("convert", at("kernel.log"), at("kernel.trace"), "--from", "kernel");
  assert.is(r.status, 0, r.stderr);
  assert.is(
    r.stderr,
    `iommu-emu: kernel import of ${at("kernel.log")}: 33 lines: 16 used, 17 ignored (1 not a line of this format, 11 no DMA, 5 repeating another line), 0 bad (skipped)\n` +
      "iommu-emu: made 8 TLPs (4 MRd, 3 MWr, 1 ATS; 4 with an expected fault) and 0 driver events\n",
  );
  assert.is(r.stdout, `converted ${at("kernel.log")} (kernel) to ${at("kernel.trace")} (text): 8 TLPs, 0 driver events\n`);
});

test("CLI: another format's input exits 2, says what it looks like, and writes nothing", () => {
  writeFileSync(at("text.trace"), "@1 MRd 00:02.0 addr=0x1000\n@2 MWr 00:02.0 addr=0x2000 len=8\n");
  let r = cli("convert", at("text.trace"), at("out1.trace"), "--from", "ftrace");
  assert.is(r.status, 2);
  assert.is(
    r.stderr,
    `iommu-emu: ${at("text.trace")}: the ftrace importer used no line of the input (2 lines: 2 not a line of this format): it looks like an iommu-emu text trace (format v1) (try --from text)\n`,
  );
  assert.not.ok(existsSync(at("out1.trace")));
  // 4 KiB of bytes from a fixed generator, no line feed among them
  let x = 12345;
  const random = Uint8Array.from({ length: 4096 }, () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const b = x >>> 24;
    return b === 10 ? 11 : b;
  });
  writeFileSync(at("random.bin"), random);
  r = cli("convert", at("random.bin"), at("out2.trace"), "--from", "kernel");
  assert.is(r.status, 2);
  assert.is(r.stderr, `iommu-emu: ${at("random.bin")}: the kernel importer used no line of the input (1 line: 1 not a line of this format): it looks like binary data, not text\n`);
  assert.not.ok(existsSync(at("out2.trace")));
  // --from auto cannot tell either
  r = cli("convert", at("random.bin"), at("out3.trace"), "--from", "auto");
  assert.is(r.status, 2);
  assert.is(r.stderr, `iommu-emu: ${at("random.bin")}: --from auto: cannot tell the format from the first lines: it looks like binary data, not text; give --from text, binary, or an importer: csv, ftrace, kernel, qemu\n`);
});


test("--from auto on every fixture: detected as its importer, the same trace as --from that importer", () => {
  for (const [name, fixture, text, map] of FIXTURES) {
    const input = at(`${fixture}.txt`);
    writeFileSync(input, text);
    const opts = map ? { map: Object.entries(map).map(([k, v]) => `${k}=${v}`).join(",") } : {};
    const named = convertCommand(input, at(`${fixture}.named.trace`), { from: name, ...opts });
    const auto = convertCommand(input, at(`${fixture}.auto.trace`), { from: "auto", ...opts });
    assert.equal([auto.from, auto.detected, named.detected], [name, true, false], fixture);
    assert.is(readFileSync(at(`${fixture}.auto.trace`), "utf8"), readFileSync(at(`${fixture}.named.trace`), "utf8"), fixture);
    assert.equal(auto.summary, named.summary, fixture);
  }
});

test("without --from: .trace is text, .bin/.itb binary; another name: the binary magic, else detection, else text", () => {
  writeFileSync(at("dmesg.txt"), kernelOld);
  const k = convertCommand(at("dmesg.txt"), at("dmesg.out.trace"));
  assert.equal([k.from, k.detected, k.tlps], ["kernel", true, 9]);
  writeFileSync(at("v1.txt"), "# comment\n@1 MRd 00:02.0 addr=0x1000\n");
  assert.equal([convertCommand(at("v1.txt"), at("v1.itb")).from, convertCommand(at("v1.itb"), at("v1.log"), { to: "text" }).from], ["text", "binary"]);
  // a kernel log named .trace is read as text: the parser says where
  writeFileSync(at("dmesg.trace"), kernelOld);
  assert.is(inputError(() => convertCommand(at("dmesg.trace"), at("x.itb"))), `${at("dmesg.trace")}:1:1: unknown event "["; expected MRd, MWr, ATS, map, unmap, inv, cmd, flush, attach, detach, replace, bind, unbind, domain-alloc, pasid-alloc, pasid-free, quota, mdev, mdev-remove or enforce-coherency (case-sensitive)`);
  // nothing recognised: text, whose parser names the first bad line
  writeFileSync(at("notes.txt"), "hello\nworld\n");
  assert.is(inputError(() => convertCommand(at("notes.txt"), at("y.itb"))), `${at("notes.txt")}:1:1: unknown event "hello"; expected MRd, MWr, ATS, map, unmap, inv, cmd, flush, attach, detach, replace, bind, unbind, domain-alloc, pasid-alloc, pasid-free, quota, mdev, mdev-remove or enforce-coherency (case-sensitive)`);
});

test("CLI: a detected format is said on standard error", () => {
  writeFileSync(at("perf.out"), perfScript);
  const r = cli("convert", at("perf.out"), at("perf.trace"));
  assert.is(r.status, 0, r.stderr);
  assert.is(
    r.stderr,
    "iommu-emu: input format: ftrace (detected from its first lines)\n" +
      `iommu-emu: ftrace import of ${at("perf.out")}: 5 lines: 4 used, 1 ignored (1 no DMA), 0 bad (skipped)\n` +
      "iommu-emu: made 1 TLPs (1 MWr) and 3 driver events (1 map, 1 unmap, 1 inv)\n",
  );
});

test.run();
