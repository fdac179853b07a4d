// The run counters (abi Counter): u64 each in the STATS block, read by the host after a batch.
import { STATS_BASE } from "../abi";

/** Adds one to run counter `counter` (abi C_*). */
// @ts-ignore: decorator
@inline export function bump(counter: u32): void {
  const at = STATS_BASE + (counter << 3);
  store<u64>(at, load<u64>(at) + 1);
}

/** Adds `n` to run counter `counter` (abi C_*): counts tallied over a batch. */
// @ts-ignore: decorator
@inline export function bumpBy(counter: u32, n: u32): void {
  const at = STATS_BASE + (counter << 3);
  store<u64>(at, load<u64>(at) + n);
}
