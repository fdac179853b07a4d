// VT-d registers the translation path reads (spec 11.4): CAP_REG, ECAP_REG, RTADDR_REG, GSTS_REG,
// decoded once per batch from the control block into globals, plus the model's options for the
// points the spec leaves open (see README "Snoop decision").
import { field, bit, mask64 } from "../../common/bits";
import { CTRL_BASE, CTRL_CAP, CTRL_ECAP, CTRL_RTADDR, CTRL_GSTS, CTRL_PHYS_ADDR_BITS, CTRL_OPTIONS, CTRL_PGSNP_NO_SC } from "../../abi";

// CAP_REG (spec 11.4.2)
//  63 ESRTPS | 62 ESIRTPS | 61 ECMDS | 60 FS5LP | 59 PI | 56 FS1GP | 55 DRD | 54 DWD | 53:48 MAMV
//  47:40 NFR | 39 PSI | 37:34 SSLPS | 33:24 FRO | 22 ZLR | 21:16 MGAW | 12:8 SAGAW | 7 CM | ... 2:0 ND
export let capSagaw: u32 = 0; // bit n: AW=n supported (1: 3-level, 2: 4-level, 3: 5-level)
export let capMgawBits: u32 = 0; // MGAW + 1
export let capSslps: u32 = 0; // bit 0: 2 MiB, bit 1: 1 GiB second-stage pages
export let capFs1gp: bool = false;
export let capFs5lp: bool = false;
export let capCm: bool = false;
export let capPsi: bool = false; // page-selective invalidation
export let capMamv: u32 = 0; // maximum address mask value for page-selective invalidation // caching mode: not-present and invalid entries may be cached

// ECAP_REG (spec 11.4.3)
//  53 RPRIVS | 52 ADMS | 49 RPS | 48 SMPWCS | 47 FSTS | 46 SSTS | 45 SSADS | 43 SMTS | 40 PASID
//  39:35 PSS | 31 SRS | 30 ERS | 29 PRS | 26 NEST | 7 SC | 6 PT | 2 DT | 0 C
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
  const opts = (<u64>load<u32>(CTRL_BASE + CTRL_OPTIONS)) | (<u64>load<u32>(CTRL_BASE + CTRL_PGSNP_NO_SC) << 32) | (<u64>load<u32>(CTRL_BASE + CTRL_PHYS_ADDR_BITS) << 40);
  const rtaddrNow = load<u64>(CTRL_BASE + CTRL_RTADDR);
  if (cap != lastCap || ecap != lastEcap || opts != lastOptions || rtaddrNow != lastRtaddr) {
    epoch++;
    lastCap = cap;
    lastEcap = ecap;
    lastOptions = opts;
    lastRtaddr = rtaddrNow;
  }
  capSagaw = <u32>field(cap, 12, 8);
  capMgawBits = <u32>field(cap, 21, 16) + 1;
  capSslps = <u32>field(cap, 37, 34);
  capFs1gp = bit(cap, 56);
  capFs5lp = bit(cap, 60);
  capCm = bit(cap, 7);
  capPsi = bit(cap, 39);
  capMamv = <u32>field(cap, 53, 48);
  ecapSc = bit(ecap, 7);
  ecapPt = bit(ecap, 6);
  ecapDt = bit(ecap, 2);
  ecapNest = bit(ecap, 26);
  ecapPrs = bit(ecap, 29);
  ecapErs = bit(ecap, 30);
  ecapSrs = bit(ecap, 31);
  ecapPasid = bit(ecap, 40);
  ecapSmts = bit(ecap, 43);
  ecapSsads = bit(ecap, 45);
  ecapSsts = bit(ecap, 46);
  ecapFsts = bit(ecap, 47);
  ecapSmpwcs = bit(ecap, 48);
  ecapRps = bit(ecap, 49);
  ecapAdms = bit(ecap, 52);
  ecapRprivs = bit(ecap, 53);
  const rtaddr = load<u64>(CTRL_BASE + CTRL_RTADDR);
  rta = rtaddr & mask64(63, 12);
  ttm = <u32>field(rtaddr, 11, 10);
  translationEnabled = bit(<u64>load<u32>(CTRL_BASE + CTRL_GSTS), 31);
  const haw = load<u32>(CTRL_BASE + CTRL_PHYS_ADDR_BITS);
  rsvdAddr = haw >= 52 ? 0 : mask64(51, haw);
  options = load<u32>(CTRL_BASE + CTRL_OPTIONS);
  pgsnpNoSc = load<u32>(CTRL_BASE + CTRL_PGSNP_NO_SC);
}
