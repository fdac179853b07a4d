/**
 * Ctrl-C and the exit codes of the commands that run asynchronously (run, convert, gen, sweep,
 * merge; README "CLI", "Exit codes"):
 *
 * - the first Ctrl-C (SIGINT) aborts the command's AbortSignal: `run` finishes with what it has
 *   replayed (a partial summary and outputs), every other command stops at its next yield, removes
 *   its temporary files and folders and ends with Interrupted;
 * - a second Ctrl-C removes every temporary file and folder at once (src/io/output.ts) and exits;
 * - either way the exit code is 130 (128 + SIGINT, as shells report it). Bad input exits 2, an
 *   internal error 1.
 *
 * A command yields to the event loop (`pause`) between slices of work: a handler for SIGINT runs
 * only then.
 */
import { InputError } from "../errors.ts";
import { removeTemporaries } from "./output.ts";

/** The exit code of a command stopped by Ctrl-C (128 + SIGINT). */
export const EXIT_INTERRUPTED = 130;

/** Thrown by a command that Ctrl-C stopped, after it has removed what it had started to write. */
export class Interrupted extends Error {
  constructor() {
    super("interrupted");
    this.name = "Interrupted";
  }
}

/** Lets the event loop run (signal handlers, a worker's messages); then throws Interrupted if `signal` was aborted. */
export async function pause(signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Interrupted();
}

/**
 * The exit code of the command. bin/iommu-emu.mjs sets process.exitCode from main() before an
 * asynchronous action ends; the 'exit' listener makes this one win either way.
 */
export function setExitCode(code: number): void {
  process.exitCode = code;
  process.once("exit", () => {
    process.exitCode = code;
  });
}

/** Prints what went wrong and sets the exit code: 2 for bad input, 130 when interrupted, 1 otherwise. */
export function reportFailure(e: unknown): void {
  if (e instanceof InputError) {
    process.stderr.write(`iommu-emu: ${e.message}\n`);
    setExitCode(2);
  } else if (e instanceof Interrupted) {
    process.stderr.write(`iommu-emu: interrupted; no output was written\n`);
    setExitCode(EXIT_INTERRUPTED);
  } else {
    process.stderr.write(`iommu-emu: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    setExitCode(1);
  }
}

/**
 * Runs a command's asynchronous part with Ctrl-C handled as described at the top of this file and
 * its failure reported (main() has returned by then). `work` gets the signal that the first
 * Ctrl-C aborts; `onSecond` (optional) runs before the exit on the second.
 */
export async function runInterruptible(work: (signal: AbortSignal) => Promise<void>, onSecond?: () => void): Promise<void> {
  await Promise.resolve(); // main() returns (and its caller sets the exit code) before anything here
  const abort = new AbortController();
  const onSigint = () => {
    if (!abort.signal.aborted) {
      abort.abort(new Interrupted());
      return;
    }
    onSecond?.();
    removeTemporaries();
    process.stderr.write("\niommu-emu: interrupted twice: stopped without writing any output\n");
    process.exit(EXIT_INTERRUPTED);
  };
  process.on("SIGINT", onSigint);
  try {
    await work(abort.signal);
  } catch (e) {
    reportFailure(e);
  } finally {
    process.off("SIGINT", onSigint);
  }
}
