/**
 * Every file a command writes goes through here (run --results/--report/--html, convert, gen,
 * sweep, merge), so no output ever destroys anything (README "CLI", "Outputs"):
 *
 * - A path that does not exist, or a regular file: the data goes to a temporary file beside it
 *   (`.NAME.PID.RANDOM.tmp`, so concurrent processes never collide) that is renamed over it at the
 *   end (commit); a failed or interrupted command removes the temporary file (abort) and the path
 *   is left as it was. A replaced file keeps its permission bits.
 * - A symbolic link: its target is written that way (the link stays a link).
 * - A character device (/dev/null, a terminal), a FIFO, or a link to one: written through
 *   directly, opened O_WRONLY: never created, truncated, renamed or removed.
 * - `-`: standard output, written through directly.
 * - A directory, a socket or a block device: refused (an InputError naming the path).
 *
 * Temporary files and folders are registered while they exist; `removeTemporaries` removes them all
 * (Ctrl-C handlers, src/io/interrupt.ts) and so does the process's 'exit' event, whatever ended it.
 */
import { closeSync, constants, fchmodSync, fstatSync, lstatSync, openSync, readlinkSync, renameSync, rmdirSync, rmSync, statSync, writeSync, type Stats } from "node:fs";
import { open as openAsync } from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, join, resolve } from "node:path";
import { InputError } from "../errors.ts";

/** How an output path is written: replaced through a temporary file, written through, or standard output. */
export type OutputKind = "replace" | "direct" | "stdout";

/** The name `-` gives standard output in messages. */
export const STDOUT_NAME = "standard output";

export interface OutputTarget {
  kind: OutputKind;
  /** The path as given. */
  path: string;
  /** The file written: the final target of a chain of symbolic links, else `path`. */
  target: string;
  /** The target when it exists (stat), for the checks of src/io/preflight.ts. */
  stats?: Stats;
  /** A direct output that is this process's own standard output (1) or error (2): written through that descriptor. */
  stream?: 1 | 2;
}

const MAX_LINKS = 40; // Linux's MAXSYMLINKS

/** `path` with symbolic links followed to their final target (which need not exist). */
export function followLinks(path: string): string {
  let p = path;
  for (let i = 0; i <= MAX_LINKS; i++) {
    let st: Stats;
    try {
      st = lstatSync(p);
    } catch {
      return p; // does not exist (yet), or cannot be looked at: whoever opens it reports that
    }
    if (!st.isSymbolicLink()) return p;
    p = resolve(dirname(p), readlinkSync(p));
  }
  throw new InputError(`too many levels of symbolic links (ELOOP)`, path);
}

/** What writing to `path` means; an InputError for what cannot be an output file. */
export function classifyOutput(path: string, what = "the output"): OutputTarget {
  if (path === "-") return { kind: "stdout", path, target: "-" };
  if (path === "") throw new InputError(`${what}: expected a file name, got an empty string`);
  // /dev/stdout, /proc/self/fd/2 or any other name of this process's own standard output or error
  // is written through that descriptor: it may be a pipe or socket that no path can open again
  // (/proc/self/fd/1 -> "socket:[N]"), and replacing it would lose what else is written there.
  const own = ownStream(path);
  if (own?.fd === 1) return { kind: "stdout", path, target: "-" };
  if (own) return { kind: "direct", path, target: path, stats: own.stats, stream: own.fd };
  const target = followLinks(path);
  let stats: Stats;
  try {
    stats = statSync(target);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { kind: "replace", path, target };
    throw new InputError(`${what}: cannot look at it (${code ?? String(e)})`, path);
  }
  if (stats.isFile()) return { kind: "replace", path, target, stats };
  if (stats.isCharacterDevice() || stats.isFIFO()) return { kind: "direct", path, target, stats };
  if (stats.isDirectory()) throw new InputError(`${what}: is a directory; expected a file name`, path);
  if (stats.isSocket()) throw new InputError(`${what}: is a socket, which cannot be opened as a file; give a file, a FIFO or - (standard output)`, path);
  throw new InputError(`${what}: is a block device; refusing to write onto it`, path);
}

/** Whether output `path` is this process's standard output (`-`, /dev/stdout, ...): the summary then goes to standard error. */
export const isStandardOutput = (path: string | undefined) => path !== undefined && (path === "-" || ownStream(path)?.fd === 1);

/** Two stats of the same file (device and inode). */
export const sameFile = (a: Stats, b: Stats) => a.dev === b.dev && a.ino === b.ino;

/**
 * What `path` is, if it is the same file as this process's descriptor `fd` and not a character
 * device (a terminal or /dev/null, which any path opens again); undefined otherwise.
 */
export function sameStreamAs(path: string, fd: number): Stats | undefined {
  try {
    const st = statSync(path);
    return !st.isCharacterDevice() && sameFile(st, fstatSync(fd)) ? st : undefined;
  } catch {
    return undefined; // missing, or the descriptor is closed
  }
}

/**
 * The standard stream (1, then 2) that `path` names, if any. Character devices are left out:
 * /dev/null as both standard output and an output file must not send the summary to standard error.
 */
function ownStream(path: string): { fd: 1 | 2; stats: Stats } | undefined {
  for (const fd of [1, 2] as const) {
    const stats = sameStreamAs(path, fd);
    if (stats) return { fd, stats };
  }
  return undefined;
}

// ---- temporary files and folders ------------------------------------------------------------------

/** "empty-dir": a folder a command created for its outputs, removed only while it is empty. */
type TemporaryType = "file" | "dir" | "empty-dir";

const temporaries = new Map<string, TemporaryType>();
let exitHook = false;

/** Registers a temporary file or folder (removed by removeTemporaries and at exit unless released). */
export function registerTemporary(path: string, type: TemporaryType): void {
  temporaries.set(path, type);
  if (!exitHook) {
    exitHook = true;
    process.on("exit", removeTemporaries);
  }
}

/** The temporary is gone or has become a real output: no longer ours to remove. */
export function releaseTemporary(path: string): void {
  temporaries.delete(path);
}

/** Removes a registered temporary now (an "empty-dir" only if it is empty). */
export function removeTemporary(path: string): void {
  const type = temporaries.get(path);
  temporaries.delete(path);
  try {
    if (type === "empty-dir") rmdirSync(path);
    else if (type !== undefined) rmSync(path, { force: true, recursive: type === "dir" });
  } catch {
    /* best effort (a folder no longer empty is left) */
  }
}

/** Removes every registered temporary file and folder, newest first (synchronously: safe in 'exit' and signal handlers). */
export function removeTemporaries(): void {
  for (const path of [...temporaries.keys()].reverse()) removeTemporary(path);
}

/** The registered temporaries (tests). */
export function liveTemporaries(): string[] {
  return [...temporaries.keys()];
}

/** A fresh temporary name beside `target`: `.NAME.PID.RANDOM.tmp`. */
export function temporaryName(target: string, suffix = "tmp"): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString("hex")}.${suffix}`);
}

// ---- writing --------------------------------------------------------------------------------------

const sleeper = new Int32Array(new SharedArrayBuffer(4));

function writeError(e: unknown, name: string): InputError {
  const code = (e as NodeJS.ErrnoException).code ?? String(e);
  const why = code === "EPIPE" ? ": the reader closed it" : code === "ENOSPC" ? ": no space left on the device" : "";
  return new InputError(`cannot write (${code}${why})`, name);
}

/**
 * Writes all of `data` to `fd` (at `position`, or at the current offset when null), going on after
 * partial writes and waiting out EAGAIN (a non-blocking pipe that is full). `name` is for messages.
 */
export function writeAll(fd: number, data: Uint8Array, name: string, position: number | null = null): void {
  let off = 0;
  while (off < data.length) {
    try {
      off += writeSync(fd, data, off, data.length - off, position === null ? null : position + off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw writeError(e, name);
      Atomics.wait(sleeper, 0, 0, 2);
    }
  }
}

/**
 * One output (see the top of this file). Writes are buffered (1 MiB); nothing is visible under the
 * output's name before commit() for a replaced file; a direct output receives data as it is flushed.
 */
export class OutputFile {
  readonly kind: OutputKind;
  /** The path as given (`-` for standard output). */
  readonly path: string;
  /** The name messages use. */
  readonly name: string;
  /** The temporary file (replace only). */
  readonly tmp: string | undefined;
  private readonly target: string;
  private fd: number;
  /** The descriptor is this process's standard output or error: never closed here. */
  private readonly borrowed: boolean;
  private pending: (string | Uint8Array)[] = [];
  private pendingBytes = 0;
  private state: "open" | "committed" | "aborted" = "open";

  private constructor(t: OutputTarget, fd: number, tmp: string | undefined) {
    this.kind = t.kind;
    this.path = t.path;
    this.name = t.kind === "stdout" ? STDOUT_NAME : t.path;
    this.target = t.target;
    this.fd = fd;
    this.tmp = tmp;
    this.borrowed = t.kind === "stdout" || t.stream !== undefined;
  }

  /** Opens `path` for writing (a FIFO's open waits for its reader, blocking this thread). */
  static openSync(path: string, what?: string): OutputFile {
    const t = classifyOutput(path, what);
    if (t.kind === "stdout") return new OutputFile(t, 1, undefined);
    if (t.stream !== undefined) return new OutputFile(t, t.stream, undefined);
    if (t.kind === "direct") return new OutputFile(t, openDirect(t), undefined);
    return OutputFile.replacing(t);
  }

  /**
   * Opens `path` for writing; a FIFO's open (which waits until a reader opens it) runs off the main
   * thread, so Ctrl-C is handled meanwhile.
   */
  static async open(path: string, what?: string, signal?: AbortSignal): Promise<OutputFile> {
    const t = classifyOutput(path, what);
    if (t.kind !== "direct" || t.stream !== undefined) return OutputFile.openSync(path, what);
    // fs.open with a callback (the thread pool), not fs.promises: its FileHandle would close the descriptor when collected.
    const opening = new Promise<OutputFile>((resolve, reject) =>
      openAsync(t.target, constants.O_WRONLY, (e, fd) => (e ? reject(openError(e, t.path)) : resolve(new OutputFile(t, fd, undefined)))),
    );
    if (!signal) return opening;
    // Given up (Ctrl-C) while waiting for a reader: the open may still complete; then close it.
    return new Promise<OutputFile>((resolve, reject) => {
      const giveUp = () => {
        opening.then((f) => f.abort(), () => {});
        unblockFifoOpen(t.target, "write");
        reject(signal.reason);
      };
      if (signal.aborted) return giveUp();
      signal.addEventListener("abort", giveUp, { once: true });
      opening.then(
        (f) => {
          signal.removeEventListener("abort", giveUp);
          if (signal.aborted) f.abort();
          resolve(f);
        },
        (e) => {
          signal.removeEventListener("abort", giveUp);
          reject(e);
        },
      );
    });
  }

  private static replacing(t: OutputTarget): OutputFile {
    const tmp = temporaryName(t.target);
    let fd: number;
    try {
      fd = openSync(tmp, "wx", 0o666);
    } catch (e) {
      throw openError(e, t.path);
    }
    registerTemporary(tmp, "file");
    // A replaced file keeps its permission bits (a private file stays private).
    if (t.stats) fchmodSync(fd, t.stats.mode & 0o7777);
    return new OutputFile(t, fd, tmp);
  }

  /** True when positional writes are possible (a replaced file; not a pipe, device or standard output). */
  get seekable(): boolean {
    return this.kind === "replace";
  }

  write(data: string | Uint8Array): void {
    if (this.state !== "open") throw new Error(`${this.name}: written after ${this.state === "committed" ? "commit" : "abort"}`);
    this.pending.push(data);
    this.pendingBytes += data.length;
    if (this.pendingBytes > 1 << 20) this.flush();
  }

  /** Writes `bytes` at byte `position` (seekable outputs only), after what is buffered. */
  writeAt(bytes: Uint8Array, position: number): void {
    if (!this.seekable) throw new Error(`${this.name}: not seekable`);
    this.flush();
    writeAll(this.fd, bytes, this.name, position);
  }

  /** Writes out what is buffered. */
  flush(): void {
    if (this.pending.length === 0) return;
    const parts = this.pending.map((p) => (typeof p === "string" ? Buffer.from(p, "utf8") : p));
    this.pending = [];
    this.pendingBytes = 0;
    writeAll(this.fd, parts.length === 1 ? parts[0]! : Buffer.concat(parts), this.name);
  }

  /** The file descriptor written (a worker thread may write to it; then nothing may be buffered here). */
  get descriptor(): number {
    return this.fd;
  }

  /** Writes out the rest and makes the output visible under its name (rename, for a replaced file). */
  commit(): void {
    if (this.state !== "open") return;
    this.flush();
    if (this.borrowed) {
      this.state = "committed";
      return;
    }
    closeSync(this.fd);
    this.fd = -1;
    if (this.tmp !== undefined) {
      try {
        renameSync(this.tmp, this.target);
      } catch (e) {
        rmSync(this.tmp, { force: true });
        releaseTemporary(this.tmp);
        this.state = "aborted";
        throw new InputError(`cannot replace it (${(e as NodeJS.ErrnoException).code ?? String(e)})`, this.path);
      }
      releaseTemporary(this.tmp);
    }
    this.state = "committed";
  }

  /** Drops the output: the temporary file is removed and the path left as it was (a direct output is closed). */
  abort(): void {
    if (this.state !== "open") return;
    this.state = "aborted";
    this.pending = [];
    if (!this.borrowed) {
      try {
        closeSync(this.fd);
      } catch {
        /* already closed */
      }
    }
    if (this.tmp !== undefined) {
      rmSync(this.tmp, { force: true });
      releaseTemporary(this.tmp);
    }
  }
}

/**
 * Lets an open of the FIFO `path` that waits in the thread pool (for writing: waiting for a reader;
 * for reading: for a writer) complete, by opening the other end without blocking and closing it
 * again: a pending open would otherwise keep the process from exiting (even process.exit waits).
 */
export function unblockFifoOpen(path: string, pending: "read" | "write"): void {
  try {
    closeSync(openSync(path, (pending === "write" ? constants.O_RDONLY : constants.O_WRONLY) | constants.O_NONBLOCK));
  } catch {
    /* nobody waits any more (ENXIO), or it is gone */
  }
}

function openDirect(t: OutputTarget): number {
  try {
    return openSync(t.target, constants.O_WRONLY);
  } catch (e) {
    throw openError(e, t.path);
  }
}

function openError(e: unknown, path: string): InputError {
  return new InputError(`cannot write the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`, path);
}

/** Aborts every output that is still open (error paths). */
export function abortAll(outputs: Iterable<OutputFile | undefined>): void {
  for (const o of outputs) o?.abort();
}

/**
 * Opens several outputs at once (`[path, what]`; an undefined path gives undefined): files to
 * replace at once, FIFOs as their readers come (or until `signal` is aborted). On any failure every
 * output opened is aborted and the first error thrown.
 */
export async function openOutputs(specs: [string | undefined, string][], signal?: AbortSignal): Promise<(OutputFile | undefined)[]> {
  const settled = await Promise.allSettled(specs.map(([path, what]) => (path === undefined ? undefined : OutputFile.open(path, what, signal))));
  const failed = settled.find((r) => r.status === "rejected");
  const opened = settled.map((r) => (r.status === "fulfilled" ? r.value : undefined));
  if (failed) {
    abortAll(opened);
    throw (failed as PromiseRejectedResult).reason;
  }
  return opened;
}
