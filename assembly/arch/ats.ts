// PCIe Address Translation Services (PCIe Base spec 10.2 "ATS Translation Services"): what a
// translation completion gives a device, as the device's translation cache (ATC, the VT-d
// "device-TLB") keeps it. The cache itself is the device's implementation (uarch/device-tlb.ts);
// the record is defined here so that the IOMMU's invalidation code can say which entries an
// invalidation reaches (arch/ports.ts predicates over key and payload).
//
//   key     k0 = the page (uarch page key), k1 = the PASID, or ATC_NO_PASID for requests without one
//   payload 0 u64 PA of the page | 8 u32 ATCF_* flags | 12 u32 page size lg2 | 16 u32 domain tag
//           (the DID, or the architecture's domain) | 20 u32 guest-memory write generation at the
//           fill | 24 u64 leaf entry PA | 32 u64 leaf entry value | 40 u64 nested: stage-2 leaf PA

export const ATC_NO_PASID: u64 = 1 << 20;

export const ATC_PA: u32 = 0;
export const ATC_FLAGS: u32 = 8;
export const ATC_PAGE_LG2: u32 = 12;
export const ATC_DOMAIN: u32 = 16;
export const ATC_GEN: u32 = 20;
export const ATC_LEAF_PA: u32 = 24;
export const ATC_LEAF_PTE: u32 = 32;
export const ATC_S2_LEAF_PA: u32 = 40;
export const ATC_PAYLOAD_BYTES: u32 = 48;

/** Completion rights (R, W, X, U; N: no-snoop may be used) and the model's stale mark. */
export const ATCF_R: u32 = 1;
export const ATCF_W: u32 = 2;
export const ATCF_X: u32 = 4;
export const ATCF_U: u32 = 8;
export const ATCF_N: u32 = 16;
/** The IOMMU has invalidated the translation this entry came from (the device was not told). */
export const ATCF_STALE: u32 = 32;
