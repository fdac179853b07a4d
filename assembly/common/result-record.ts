// The start of every translation's result record (abi Res), for any architecture.
import { RES_ADDR_SPACE, RES_PAGE_LG2, RES_FLAGS, RSF_STALE, REQ_FLAGS, RQF_STALE_USED } from "../abi";

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

/**
 * After request `req` was translated into `res` by the full path (not a memo replay: those are
 * never stale): a stale result marks the request record (abi ReqFlag.STALE_USED), which the host
 * reads even when nobody reads the result ring (Opt.RESULTS_UNREAD: `res` is the scratch record).
 */
// @ts-ignore: decorator
@inline export function markStaleRequest(req: usize, res: usize): void {
  if ((load<u32>(res, RES_FLAGS) & RSF_STALE) != 0) store<u16>(req, <u16>(<u32>load<u16>(req, REQ_FLAGS) | RQF_STALE_USED), REQ_FLAGS);
}
