/**
 * Linux's lazy flush queue, apart from any architecture (src/driver/flush-queue.ts): when it
 * flushes (batch, timer, explicit, end), what it hands the architecture driver, and its checks.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { FlushQueue, defaultFlushQueueOptions } from "../../src/driver/flush-queue.ts";

function queue(lazyBatch = 3, lazyTimeoutCycles = 100) {
  const flushed: string[][] = [];
  const q = new FlushQueue<string>({ invalidation: "lazy", lazyBatch, lazyTimeoutCycles }, (items) => flushed.push(items));
  return { q, flushed };
}

test("a full batch flushes the deferred items, oldest first", () => {
  const { q, flushed } = queue(3);
  q.defer("a", { line: 2, column: 1 });
  q.defer("b");
  assert.equal(flushed, []);
  assert.equal(q.firstDeferred, { line: 2, column: 1 });
  q.defer("a");
  assert.equal(flushed, [["a", "b", "a"]]);
  assert.is(q.firstDeferred, undefined);
  assert.equal(q.stats, { flushes: 1, flushReasons: { batch: 1, timeout: 0, explicit: 0, end: 0 }, deferredUnmaps: 3 });
});

test("the timer fires lazyTimeoutCycles after the oldest deferred item, not before", () => {
  const { q, flushed } = queue(10, 100);
  q.advanceTo(50n);
  q.defer("x"); // deferred at 50: deadline 150
  q.advanceTo(120n);
  q.defer("y");
  assert.is(q.deadline, 150n);
  q.advanceTo(149n);
  assert.equal(flushed, []);
  q.advanceTo(150n);
  assert.equal(flushed, [["x", "y"]]);
  assert.is(q.deadline, undefined);
  // time never goes back: a later defer at an earlier time stamps the latest time
  q.advanceTo(10n);
  q.defer("z");
  assert.is(q.deadline, 250n);
  assert.equal(q.stats.flushReasons, { batch: 0, timeout: 1, explicit: 0, end: 0 });
});

test("explicit and end flushes; an empty queue does not count a flush", () => {
  const { q, flushed } = queue();
  q.flushNow("explicit");
  q.defer("a");
  q.flushNow("explicit");
  q.defer("b");
  q.flushNow("end");
  q.flushNow("end");
  assert.equal(flushed, [["a"], ["b"]]);
  assert.equal(q.stats, { flushes: 2, flushReasons: { batch: 0, timeout: 0, explicit: 1, end: 1 }, deferredUnmaps: 2 });
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
