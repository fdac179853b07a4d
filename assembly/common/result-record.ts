// The start of every translation's result record (abi Res), for any architecture.
import { RES_ADDR_SPACE, RES_PAGE_LG2 } from "../abi";

/** Res.ADDR_SPACE of a request without an address-space tag (no PASID, no SubstreamID). */
export const NO_ADDR_SPACE: u32 = 0xffffffff;

/**
 * Clears the 64-byte result record `res` with plain stores (V8 turns memory.fill into an
 * out-of-line call), with no address-space tag and a 4 KiB page until the translation says more.
 */
// @ts-ignore: decorator
@inline export function resultBegin(res: usize): void {
  store<u64>(res, 0, 0);
  store<u64>(res, 0, 8);
  store<u64>(res, 0, 16);
  store<u64>(res, 0, 24);
  store<u64>(res, 0, 32);
  store<u64>(res, 0, 40);
  store<u64>(res, 0, 48);
  store<u64>(res, 0, 56);
  store<u32>(res, NO_ADDR_SPACE, RES_ADDR_SPACE);
  store<u8>(res, 12, RES_PAGE_LG2);
}
