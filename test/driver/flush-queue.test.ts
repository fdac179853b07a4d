/**
 * Linux's lazy flush queues, apart from any architecture (src/driver/flush-queue.ts): one per
 * domain; when each flushes (batch, timer, explicit, end), which domain it hands the architecture
 * driver, and its checks.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { FlushQueue, defaultFlushQueueOptions } from "../../src/driver/flush-queue.ts";

function queue(lazyBatch = 3, lazyTimeoutCycles = 100) {
  const flushed: string[] = [];
  const q = new FlushQueue<string>({ invalidation: "lazy", lazyBatch, lazyTimeoutCycles }, (domain) => flushed.push(domain));
  return { q, flushed };
}

test("a full batch flushes its domain once", () => {
  const { q, flushed } = queue(3);
  q.defer("a", { line: 2, column: 1 });
  q.defer("a");
  assert.equal(flushed, []);
  assert.equal(q.firstDeferred, { line: 2, column: 1 });
  q.defer("a");
  assert.equal(flushed, ["a"]);
  assert.is(q.firstDeferred, undefined);
  assert.equal(q.stats, { flushes: 1, flushReasons: { batch: 1, timeout: 0, explicit: 0, end: 0 }, deferredUnmaps: 3 });
});

test("one queue per domain: each counts its own batch (Linux: one iova_fq per DMA cookie)", () => {
  const { q, flushed } = queue(3);
  // a, b, a, b, a: a's third unmap fills a's queue; b holds 2 of 3 and stays deferred.
  for (const d of ["a", "b", "a", "b", "a"]) q.defer(d);
  assert.equal(flushed, ["a"]);
  // a's queue is gone; the next deferral of a starts a new queue (a number no queue had: a was 0, b 1)
  assert.equal([q.queueOf("a"), q.queueOf("b")], [undefined, 1]);
  q.defer("a");
  assert.is(q.queueOf("a"), 2);
  q.defer("b");
  assert.equal(flushed, ["a", "b"]);
  assert.equal(q.stats, { flushes: 2, flushReasons: { batch: 2, timeout: 0, explicit: 0, end: 0 }, deferredUnmaps: 7 });
});

test("the timer fires lazyTimeoutCycles after the oldest deferred item, not before", () => {
  const { q, flushed } = queue(10, 100);
  q.advanceTo(50n);
  q.defer("x"); // deferred at 50: deadline 150
  q.advanceTo(120n);
  q.defer("x");
  assert.is(q.deadline, 150n);
  q.advanceTo(149n);
  assert.equal(flushed, []);
  q.advanceTo(150n);
  assert.equal(flushed, ["x"]);
  assert.is(q.deadline, undefined);
  // time never goes back: a later defer at an earlier time stamps the latest time
  q.advanceTo(10n);
  q.defer("z");
  assert.is(q.deadline, 250n);
  assert.equal(q.stats.flushReasons, { batch: 0, timeout: 1, explicit: 0, end: 0 });
});

test("each domain's timer runs from its own oldest deferred unmap; several fire in deadline order", () => {
  const { q, flushed } = queue(10, 100);
  q.advanceTo(10n);
  q.defer("b", { line: 3, column: 1 }); // b: deadline 110
  q.advanceTo(40n);
  q.defer("a", { line: 4, column: 1 }); // a: deadline 140
  assert.is(q.deadline, 110n);
  assert.equal(q.firstDeferred, { line: 3, column: 1 });
  q.advanceTo(110n);
  assert.equal(flushed, ["b"]); // a is not flushed with it
  assert.is(q.deadline, 140n);
  assert.equal(q.firstDeferred, { line: 4, column: 1 });
  q.defer("b"); // b again at 110: deadline 210
  q.defer("c"); // c at 110: deadline 210, deferred after b
  q.advanceTo(500n); // passes 140 and 210: a, then b and c in the order they were deferred
  assert.equal(flushed, ["b", "a", "b", "c"]);
  assert.equal(q.stats.flushReasons, { batch: 0, timeout: 4, explicit: 0, end: 0 });
});

test("explicit and end flushes; a domain's own flush; an empty queue does not count a flush", () => {
  const { q, flushed } = queue();
  q.flushNow("explicit");
  q.defer("a");
  q.flushNow("explicit");
  q.defer("b");
  q.defer("a");
  q.flushDomain("a", "explicit"); // flush a: b stays deferred
  q.flushDomain("c", "explicit"); // nothing deferred in c: no flush
  assert.equal(flushed, ["a", "a"]);
  q.defer("c");
  q.flushNow("end"); // b (deferred first), then c
  q.flushNow("end");
  assert.equal(flushed, ["a", "a", "b", "c"]);
  assert.equal(q.stats, { flushes: 4, flushReasons: { batch: 0, timeout: 0, explicit: 2, end: 2 }, deferredUnmaps: 4 });
});

test("strict mode is not lazy; impossible options are RangeErrors", () => {
  assert.is(new FlushQueue(defaultFlushQueueOptions, () => {}).lazy, false);
  assert.equal(defaultFlushQueueOptions, { invalidation: "strict", lazyBatch: 256, lazyTimeoutCycles: 10_000_000 });
  const bad = (o: object, message: string) =>
    assert.throws(() => new FlushQueue({ ...defaultFlushQueueOptions, ...o }, () => {}), (e: Error) => e instanceof RangeError && e.message === message);
  bad({ lazyBatch: 0 }, "lazyBatch 0 must be a positive integer");
  bad({ lazyTimeoutCycles: -1 }, "lazyTimeoutCycles -1 must be a non-negative integer");
  bad({ invalidation: "eager" }, 'invalidation must be "strict" or "lazy", not eager');
});

test.run();
