// A binary min-heap of u64 cycles (completion or free times) in a fixed StaticArray: push and pop
// in O(log n), the earliest at the root. The timing model's translation slots and walker slots.

@final
export class MinHeap {
  private readonly items: StaticArray<u64>;
  size: i32 = 0;

  constructor(capacity: i32) {
    this.items = new StaticArray<u64>(max(1, capacity));
  }

  // @ts-ignore: decorator
  @inline min(): u64 {
    return unchecked(this.items[0]);
  }

  push(v: u64): void {
    const a = this.items;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pv = unchecked(a[parent]);
      if (pv <= v) break;
      unchecked((a[i] = pv));
      i = parent;
    }
    unchecked((a[i] = v));
  }

  popMin(): u64 {
    const a = this.items;
    const top = unchecked(a[0]);
    const last = unchecked(a[--this.size]);
    const n = this.size;
    let i = 0;
    while (true) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && unchecked(a[c + 1]) < unchecked(a[c])) c++;
      if (unchecked(a[c]) >= last) break;
      unchecked((a[i] = unchecked(a[c])));
      i = c;
    }
    if (n > 0) unchecked((a[i] = last));
    return top;
  }

  /**
   * How many items are at most `v`: a walk from the root that stops below any larger item, so it
   * costs what it counts (no scan of the heap).
   */
  countAtMost(v: u64): i32 {
    return this.countFrom(0, v);
  }

  private countFrom(i: i32, v: u64): i32 {
    if (i >= this.size || unchecked(this.items[i]) > v) return 0;
    return 1 + this.countFrom(2 * i + 1, v) + this.countFrom(2 * i + 2, v);
  }

  /** Empties the heap and fills it with `n` items of value `v`. */
  reset(n: i32, v: u64): void {
    for (let i = 0; i < n; i++) unchecked((this.items[i] = v));
    this.size = n;
  }
}
