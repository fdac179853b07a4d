// VT-d registers the translation path reads (spec 11.4): CAP_REG, ECAP_REG, RTADDR_REG, GSTS_REG,
// decoded once per batch from the control block into globals, plus the model's options for the
// points the spec leaves open (see README "Snoop decision").
import { field, bit, mask64 } from "../../common/bits";
import { CTRL_BASE, CTRL_CAP, CTRL_ECAP, CTRL_RTADDR, CTRL_GSTS, CTRL_PHYS_ADDR_BITS, CTRL_OPTIONS, CTRL_PGSNP_NO_SC, OPT_RESULTS_UNREAD } from "../../abi";
import {
  CAP_SAGAW, CAP_MGAW, CAP_SSLPS, CAP_FS1GP, CAP_FS5LP, CAP_CM, CAP_PSI, CAP_MAMV, ECAP_SC, ECAP_PT, ECAP_DT, ECAP_NEST, ECAP_PRS,
  ECAP_ERS, ECAP_SRS, ECAP_PASID, ECAP_SMTS, ECAP_SSADS, ECAP_SSTS, ECAP_FSTS, ECAP_SMPWCS, ECAP_RPS, ECAP_ADMS, ECAP_RPRIVS,
} from "./fields";

// CAP_REG (spec 11.4.2); the field positions are generated (./fields.ts from src/config/vtd-regs.ts)
export let capSagaw: u32 = 0; // bit n: AW=n supported (1: 3-level, 2: 4-level, 3: 5-level)
export let capMgawBits: u32 = 0; // MGAW + 1
export let capSslps: u32 = 0; // bit 0: 2 MiB, bit 1: 1 GiB second-stage pages
export let capFs1gp: bool = false;
export let capFs5lp: bool = false;
export let capCm: bool = false;
export let capPsi: bool = false; // page-selective invalidation
export let capMamv: u32 = 0; // maximum address mask value for page-selective invalidation // caching mode: not-present and invalid entries may be cached

// ECAP_REG (spec 11.4.3)
export let ecapSc: bool = false;
export let ecapPt: bool = false;
export let ecapDt: bool = false;
export let ecapNest: bool = false;
export let ecapPrs: bool = false;
export let ecapErs: bool = false;
export let ecapSrs: bool = false;
export let ecapPasid: bool = false;
export let ecapSmts: bool = false;
export let ecapSsads: bool = false;
export let ecapSsts: bool = false;
export let ecapFsts: bool = false;
export let ecapSmpwcs: bool = false;
export let ecapRps: bool = false;
export let ecapAdms: bool = false;
export let ecapRprivs: bool = false;

// RTADDR_REG (spec 11.4.5): 63:12 RTA, 11:10 TTM (00 legacy, 01 scalable, 11 abort-DMA)
export let rta: u64 = 0;
export let ttm: u32 = 0;
// GSTS_REG (spec 11.4.4.2): bit 31 TES
export let translationEnabled: bool = false;

/** Reserved address bits in table pointers and entries: 51..HAW. */
export let rsvdAddr: u64 = 0;
export let options: u32 = 0;
export let pgsnpNoSc: u32 = 0;

/**
 * Bumped whenever the registers or options change: cached results of structure checks (which
 * depend on them) are recomputed after a change.
 */
export let epoch: u32 = 1;
let lastCap: u64 = 0;
let lastEcap: u64 = 0;
let lastRtaddr: u64 = 0;
let lastOptions: u64 = 0;

export function vtdSyncRegs(): void {
  const cap = load<u64>(CTRL_BASE + CTRL_CAP);
  const ecap = load<u64>(CTRL_BASE + CTRL_ECAP);
  // OPT_RESULTS_UNREAD says where results go, not how requests translate: not part of the epoch.
  const opts = (<u64>(load<u32>(CTRL_BASE + CTRL_OPTIONS) & ~OPT_RESULTS_UNREAD)) | (<u64>load<u32>(CTRL_BASE + CTRL_PGSNP_NO_SC) << 32) | (<u64>load<u32>(CTRL_BASE + CTRL_PHYS_ADDR_BITS) << 40);
  const rtaddrNow = load<u64>(CTRL_BASE + CTRL_RTADDR);
  if (cap != lastCap || ecap != lastEcap || opts != lastOptions || rtaddrNow != lastRtaddr) {
    epoch++;
    lastCap = cap;
    lastEcap = ecap;
    lastOptions = opts;
    lastRtaddr = rtaddrNow;
  }
  capSagaw = CAP_SAGAW(cap);
  capMgawBits = CAP_MGAW(cap) + 1;
  capSslps = CAP_SSLPS(cap);
  capFs1gp = CAP_FS1GP(cap);
  capFs5lp = CAP_FS5LP(cap);
  capCm = CAP_CM(cap);
  capPsi = CAP_PSI(cap);
  capMamv = CAP_MAMV(cap);
  ecapSc = ECAP_SC(ecap);
  ecapPt = ECAP_PT(ecap);
  ecapDt = ECAP_DT(ecap);
  ecapNest = ECAP_NEST(ecap);
  ecapPrs = ECAP_PRS(ecap);
  ecapErs = ECAP_ERS(ecap);
  ecapSrs = ECAP_SRS(ecap);
  ecapPasid = ECAP_PASID(ecap);
  ecapSmts = ECAP_SMTS(ecap);
  ecapSsads = ECAP_SSADS(ecap);
  ecapSsts = ECAP_SSTS(ecap);
  ecapFsts = ECAP_FSTS(ecap);
  ecapSmpwcs = ECAP_SMPWCS(ecap);
  ecapRps = ECAP_RPS(ecap);
  ecapAdms = ECAP_ADMS(ecap);
  ecapRprivs = ECAP_RPRIVS(ecap);
  const rtaddr = load<u64>(CTRL_BASE + CTRL_RTADDR);
  rta = rtaddr & mask64(63, 12);
  ttm = <u32>field(rtaddr, 11, 10);
  translationEnabled = bit(<u64>load<u32>(CTRL_BASE + CTRL_GSTS), 31);
  const haw = load<u32>(CTRL_BASE + CTRL_PHYS_ADDR_BITS);
  rsvdAddr = haw >= 52 ? 0 : mask64(51, haw);
  options = load<u32>(CTRL_BASE + CTRL_OPTIONS);
  pgsnpNoSc = load<u32>(CTRL_BASE + CTRL_PGSNP_NO_SC);
}
