// The root complex's peer-to-peer windows (abi P2pMap): per requester, the address ranges a root
// port or a switch without ACS redirection (PCIe base spec 6.12, ACS P2P Request Redirect) routes
// to a peer before the request reaches the IOMMU: Linux lists them as the device's reserved regions
// of type RESERVED (src/iommu/regions.ts). The host writes the windows once at set-up; both batch
// loops (engine/run.ts, engine/smmu-run.ts) look each untranslated memory request up here before
// anything else. A request in a window is not translated: status p2p, counted in `p2p` only,
// untimed, as an unrouted one. No allocation; a linear scan of at most P2P_MAX_RANGES windows.
import {
  CTRL_BASE, CTRL_PEER_WINDOWS, P2P_RANGES, P2P_ENTRIES, P2P_ENTRY_SIZE, P2PE_SID, P2PE_BASE, P2PE_LAST,
  REQ_ADDR, REQ_SID, REQ_FLAGS, RQF_KIND_MASK, RQF_TRANSLATED, KIND_ATS, RES_PA, RES_STATUS, ST_PEER, C_P2P,
} from "../abi";
import { bump } from "../common/counters";
import { resultBegin } from "../common/result-record";

const MAP: usize = CTRL_BASE + CTRL_PEER_WINDOWS;

/** Windows in the table (0: none, every request goes to the IOMMU). */
export function p2pWindows(): u32 {
  return load<u32>(MAP, P2P_RANGES);
}

/**
 * Whether request `req` is routed peer-to-peer by one of the `n` windows; if so its result `res` is
 * written (status p2p, the address untouched in PA) and counted. ATS translation requests and
 * translated requests go to the IOMMU (their addresses are not in the untranslated space).
 */
export function p2pRoute(req: usize, res: usize, n: u32): bool {
  const flags = <u32>load<u16>(req, REQ_FLAGS);
  if ((flags & RQF_KIND_MASK) == KIND_ATS || (flags & RQF_TRANSLATED) != 0) return false;
  const sid = load<u32>(req, REQ_SID);
  const addr = load<u64>(req, REQ_ADDR);
  let e: usize = MAP + P2P_ENTRIES;
  for (let i: u32 = 0; i < n; i++, e += P2P_ENTRY_SIZE) {
    if (load<u32>(e, P2PE_SID) != sid || addr < load<u64>(e, P2PE_BASE) || addr > load<u64>(e, P2PE_LAST)) continue;
    resultBegin(res);
    store<u8>(res, ST_PEER, RES_STATUS);
    store<u64>(res, addr, RES_PA); // the bus address the peer receives
    bump(C_P2P);
    return true;
  }
  return false;
}
