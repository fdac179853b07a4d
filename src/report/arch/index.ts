/** Each architecture's part of the reports, by name (the report layer's own registry). */
import type { ArchName } from "../../core/abi.ts";
import type { ArchReport } from "./types.ts";
import { vtdReport } from "./vtd.ts";
import { smmuReport } from "./smmuv3.ts";

export const archReports: Readonly<Record<ArchName, ArchReport>> = { vtd: vtdReport as ArchReport, smmuv3: smmuReport as ArchReport };
