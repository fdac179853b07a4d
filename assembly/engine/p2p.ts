// The root complex's peer-to-peer windows (abi P2pMap): per requester, the address ranges a root
// port or a switch without ACS redirection (PCIe base spec 6.12, ACS P2P Request Redirect) routes
// to a peer before the request reaches the IOMMU: Linux lists them as the device's reserved regions
// of type RESERVED (src/iommu/regions.ts). The host writes the windows once at set-up; both batch
// loops (engine/run.ts, engine/smmu-run.ts) look each untranslated memory request up here before
// anything else. A request in a window is not translated: status p2p, counted in `p2p` only,
// untimed, as an unrouted one. No allocation; a linear scan of at most P2P_MAX_RANGES windows.
// A window may instead be a hardware MSI doorbell (a fixed one the interrupt controller takes before
// the IOMMU): status interrupt. SMMUv3's doorbells behind the SMMU (reached through the SW_MSI
// window's mappings) are checked after translation (doorbellCheck).
import {
  CTRL_BASE, CTRL_PEER_WINDOWS, P2P_RANGES, P2P_ENTRIES, P2P_ENTRY_SIZE, P2PE_SID, P2PE_KIND, P2PE_BASE, P2PE_LAST, PEER_P2_P,
  REQ_ADDR, REQ_SID, REQ_FLAGS, RQF_KIND_MASK, RQF_TRANSLATED, KIND_ATS, KIND_MWR, RES_PA, RES_STATUS, RES_FLAGS, RSF_ROUTED, ST_PEER, ST_OK, ST_INTERRUPT, C_P2P, C_INTERRUPTS,
  CTRL_DOORBELLS, DOORBELL_COUNT, DOORBELL_PAGES,
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
  const e = p2pWindowOf(req, n);
  if (e == 0) return false;
  const peer = load<u32>(e, P2PE_KIND) == PEER_P2_P;
  resultBegin(res);
  store<u8>(res, peer ? ST_PEER : ST_INTERRUPT, RES_STATUS);
  store<u64>(res, load<u64>(req, REQ_ADDR), RES_PA); // the bus address the peer (or the interrupt controller) receives
  store<u32>(res, RSF_ROUTED, RES_FLAGS);
  bump(peer ? C_P2P : C_INTERRUPTS);
  return true;
}

/** The window of the `n` that request `req` falls in (its entry's address), or 0; no side effect. */
function p2pWindowOf(req: usize, n: u32): usize {
  const flags = <u32>load<u16>(req, REQ_FLAGS);
  if ((flags & RQF_KIND_MASK) == KIND_ATS || (flags & RQF_TRANSLATED) != 0) return 0;
  const sid = load<u32>(req, REQ_SID);
  const addr = load<u64>(req, REQ_ADDR);
  let e: usize = MAP + P2P_ENTRIES;
  for (let i: u32 = 0; i < n; i++, e += P2P_ENTRY_SIZE) {
    if (load<u32>(e, P2PE_SID) == sid && addr >= load<u64>(e, P2PE_BASE) && addr <= load<u64>(e, P2PE_LAST)) return e;
  }
  return 0;
}

const BELLS: usize = CTRL_BASE + CTRL_DOORBELLS;

/** MSI doorbell pages reached through translation (0: none). */
export function doorbells(): u32 {
  return load<u32>(BELLS, DOORBELL_COUNT);
}

/**
 * After translation: a write whose output address is in one of the `n` doorbell pages (the MSI
 * mapping the driver placed in the SW_MSI window) is an interrupt (SMMUv3: the GIC ITS's
 * GITS_TRANSLATER behind the SMMU); counted in `interrupts` besides `translated`.
 */
export function doorbellCheck(req: usize, res: usize, n: u32): void {
  if (load<u8>(res, RES_STATUS) != ST_OK || (<u32>load<u16>(req, REQ_FLAGS) & RQF_KIND_MASK) != KIND_MWR) return;
  const page = load<u64>(res, RES_PA) & ~(<u64>0xfff);
  for (let i: u32 = 0; i < n; i++) {
    if (load<u64>(BELLS + DOORBELL_PAGES + (<usize>i << 3)) != page) continue;
    store<u8>(res, ST_INTERRUPT, RES_STATUS);
    bump(C_INTERRUPTS);
    return;
  }
}
