/**
 * The interface of an architecture's core-fuzzing generator. The core target (../core.ts) knows no
 * architecture: it runs every case on the release and the debug core, compares them and applies
 * the architecture's rules. A second architecture (SMMUv3) joins by adding a module that exports
 * an ArchGenerator and listing it in ../core.ts `generators`.
 */
import type * as fc from "fast-check";
import type { CoreBuild } from "../../../src/core/core.ts";

/** What one case did on one build of the core. */
export interface Execution {
  /** Every request's outcome, in order, in a form that compares with deep equality. */
  outcomes: Outcome[];
  /** Each request batch: records, table and structure reads it made, host milliseconds. */
  batches: { requests: number; reads: number; ms: number }[];
  /** Other work the case made the core do (e.g. invalidation descriptors processed), by name. */
  work: Record<string, number>;
}

export interface Outcome {
  status: string;
  /** The fault's code (architecture's numbering) when status is a fault. */
  code?: number;
  /** Table and structure reads the core reports for this request. */
  reads: number;
  /** The rest of the result, compared between builds as it is. */
  detail: unknown;
}

export interface ArchGenerator<C> {
  readonly arch: string;
  readonly arbitrary: fc.Arbitrary<C>;
  /** Builds the case's platform on `build` and runs the case on it. */
  execute(c: C, build: CoreBuild): Execution;
  /** Undefined when `o` is an outcome the architecture allows, else what is wrong with it. */
  validate(o: Outcome): string | undefined;
  /** The most table and structure reads one request may make (the bound on work per request). */
  readonly maxReadsPerRequest: number;
  /** Bounds of the other work, by name, for the whole case. */
  workBound(c: C): Record<string, number>;
}
