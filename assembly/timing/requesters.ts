// NOT ARCHITECTURAL: per-requester state of the timing model, for any 32-bit requester ID (a VT-d
// source ID with its segment, an SMMUv3 StreamID): the completion cycle of the requester's last
// request, for in-order completion. An open-addressing table that doubles when half full.

let keys = new StaticArray<u64>(1 << 10); // requester ID + 1; 0 = empty
let values = new StaticArray<u64>(1 << 10);
let capLg2: u32 = 10;
let used: u32 = 0;

// @ts-ignore: decorator
@inline function slotOf(key: u64, lg2: u32): u32 {
  return <u32>((key * 0x9e3779b97f4a7c15) >>> (64 - lg2));
}

/** Forgets every requester. */
export function requestersClear(): void {
  capLg2 = 10;
  keys = new StaticArray<u64>(1 << capLg2);
  values = new StaticArray<u64>(1 << capLg2);
  used = 0;
}

/** The slot of requester `id`, inserted with value 0 if new. */
function slotFor(id: u32): u32 {
  const key = <u64>id + 1;
  const m: u32 = (1 << capLg2) - 1;
  let i = slotOf(key, capLg2);
  while (true) {
    const k = unchecked(keys[i]);
    if (k == key) return i;
    if (k == 0) break;
    i = (i + 1) & m;
  }
  if ((used + 1) << 1 > (<u32>1 << capLg2)) {
    grow();
    return slotFor(id);
  }
  unchecked((keys[i] = key));
  unchecked((values[i] = 0));
  used++;
  return i;
}

function grow(): void {
  const oldKeys = keys, oldValues = values;
  capLg2++;
  keys = new StaticArray<u64>(1 << capLg2);
  values = new StaticArray<u64>(1 << capLg2);
  const m: u32 = (1 << capLg2) - 1;
  for (let j = 0; j < oldKeys.length; j++) {
    const k = unchecked(oldKeys[j]);
    if (k == 0) continue;
    let i = slotOf(k, capLg2);
    while (unchecked(keys[i]) != 0) i = (i + 1) & m;
    unchecked((keys[i] = k));
    unchecked((values[i] = unchecked(oldValues[j])));
  }
}

/**
 * In-order completion for requester `id`: a request that would complete at `done` completes no
 * earlier than the requester's previous one; returns the completion cycle and remembers it.
 */
export function completeInOrder(id: u32, done: u64): u64 {
  const i = slotFor(id);
  const d = max(done, unchecked(values[i]));
  unchecked((values[i] = d));
  return d;
}
