/** Topologies the topology, groups and CLI tests share (README "Scenario format", issue 11). */

/** A VT-d scenario whose topology has one entry per line, the first on line 4. */
export const scenarioText = (entries: readonly unknown[]): string =>
  `{\n  "arch": "vtd",\n  "topology": [\n${entries.map((e) => `    ${JSON.stringify(e)}`).join(",\n")}\n  ]\n}\n`;

/** The topology of issue 11's example, as written there. */
export const issueExample = [
  { bdf: "00:1c.0", type: "root-port", acs: ["SV", "RR", "CR", "UF"] },
  { bdf: "01:00.0", type: "upstream-port", parent: "00:1c.0" },
  { bdf: "02:01.0", type: "downstream-port", parent: "01:00.0", acs: [] },
  { bdf: "03:00.0", type: "endpoint", parent: "02:01.0" },
  { bdf: "03:00.1", type: "endpoint", parent: "02:01.0", acs: [] },
  { bdf: "00:1d.0", type: "root-port" },
  { bdf: "04:00.0", type: "pci-bridge", parent: "00:1d.0" },
  { bdf: "05:01.0", type: "pci-endpoint", parent: "04:00.0" },
  { bdf: "00:02.0", type: "rc-integrated" },
] as const;

/** The groups of issue 11's example (test/iommu/groups.test.ts works them out from the kernel's rules). */
export const issueExampleGroups = [
  { id: 0, devices: ["00:02.0"], why: "00:02.0 is alone: no other device shares its requester ID or reaches it without ACS isolation" },
  { id: 1, devices: ["00:1c.0"], why: "00:1c.0 is alone: no other device shares its requester ID or reaches it without ACS isolation" },
  {
    id: 2,
    devices: ["00:1d.0", "04:00.0", "05:01.0"],
    why: "00:1d.0 has no ACS: everything below it is one group; 05:01.0 uses requester ID 05:00.0 behind PCIe-to-PCI bridge 04:00.0",
  },
  { id: 3, devices: ["01:00.0"], why: "01:00.0 is alone: no other device shares its requester ID or reaches it without ACS isolation" },
  { id: 4, devices: ["02:01.0", "03:00.0", "03:00.1"], why: "02:01.0 has no ACS: everything below it is one group" },
];
