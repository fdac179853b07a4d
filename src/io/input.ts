/**
 * Where inputs come from (README "CLI", "Inputs"): a byte source that the synchronous trace readers
 * pull chunks from (src/trace/stream.ts, binary.ts), whatever is behind it:
 *
 * - a file, read with fs.readSync in chunks (a FIFO too);
 * - `-`: standard input, read the same way as a stream (pipes and redirected files alike; a
 *   terminal is refused: a trace is piped in, not typed);
 * - compressed data, recognised by its first bytes, not its name: gzip (1f 8b) through fflate's
 *   streaming Gunzip, zstd (28 b5 2f fd) through fzstd's streaming Decompress. Both decompress
 *   synchronously chunk by chunk, so memory stays flat; node:zlib has no synchronous streaming
 *   decompressor (only whole-buffer *Sync calls, and streams that are asynchronous), and the
 *   replay pulls its records synchronously (README "Dependencies").
 *
 * Other compressed formats (xz, bzip2, lz4, zip) are named in a clear error. `readTextFile` reads a
 * whole (small) text input the same way (scenarios, sweep definitions, importer inputs) and refuses
 * binary data: a NUL byte or bytes that are not UTF-8, with their line and column.
 */
import { closeSync, fstatSync, open as openAsync, openSync, readSync, statSync } from "node:fs";
import { isatty } from "node:tty";
import { Gunzip } from "fflate";
import { Decompress } from "fzstd";
import { InputError } from "../errors.ts";
import { sameStreamAs, unblockFifoOpen } from "./output.ts";

/** The name `-` gives standard input in messages. */
export const STDIN_NAME = "standard input";

/** A stream of bytes read synchronously, chunk by chunk. */
export interface ByteSource {
  /** For messages: the path, or "standard input". */
  readonly name: string;
  /** Reads up to `length` bytes into `buf` at `offset`; 0 at the end. */
  read(buf: Uint8Array, offset: number, length: number): number;
  /** The bytes it will deliver when known in advance (a regular file read as it is), else undefined. */
  readonly size: number | undefined;
  /** How far through the underlying file or stream: bytes consumed and its size (0 when unknown). */
  readonly progress: { done: number; total: number };
  /** "gzip" or "zstd" when decompressing. */
  readonly compression: Compression | undefined;
  close(): void;
}

export type Compression = "gzip" | "zstd";

const sleeper = new Int32Array(new SharedArrayBuffer(4));

function readError(e: unknown, name: string, expected = "a file"): InputError {
  const code = (e as NodeJS.ErrnoException).code ?? String(e);
  if (code === "EISDIR") return new InputError(`is a directory; expected ${expected}`, name);
  return new InputError(`cannot read the file (${code})`, name);
}

/** A file descriptor read with fs.readSync (EAGAIN from a non-blocking pipe is waited out). */
export class FdSource implements ByteSource {
  readonly compression = undefined;
  private consumed = 0;
  private closed = false;

  constructor(
    private readonly fd: number,
    readonly name: string,
    readonly size: number | undefined,
    /** Close the descriptor on close() (not standard input's). */
    private readonly owned: boolean,
  ) {}

  read(buf: Uint8Array, offset: number, length: number): number {
    for (;;) {
      try {
        const n = readSync(this.fd, buf, offset, length, null);
        this.consumed += n;
        return n;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "EAGAIN") Atomics.wait(sleeper, 0, 0, 2);
        else if (code === "EOF") return 0; // Windows pipes
        else throw readError(e, this.name);
      }
    }
  }

  get progress(): { done: number; total: number } {
    return { done: this.consumed, total: this.size ?? 0 };
  }

  close(): void {
    if (!this.closed && this.owned) closeSync(this.fd);
    this.closed = true;
  }
}

/** Compressed bytes pushed to the decompressor at a time (fflate is much slower with small pushes). */
const PUSH_BYTES = 1 << 20;

/** Decompresses another source on the fly (gzip: fflate Gunzip, multi-member; zstd: fzstd, multi-frame). */
export class DecompressSource implements ByteSource {
  readonly size = undefined;
  private readonly queue: Uint8Array[] = [];
  private head = 0;
  private ended = false;
  private readonly push: (chunk: Uint8Array, final: boolean) => void;

  constructor(
    private readonly inner: ByteSource,
    readonly compression: Compression,
  ) {
    const ondata = (data: Uint8Array) => {
      if (data.length) this.queue.push(data);
    };
    if (compression === "gzip") {
      const g = new Gunzip(ondata);
      this.push = (c, f) => g.push(c, f);
    } else {
      const z = new Decompress(ondata);
      this.push = (c, f) => z.push(c, f);
    }
  }

  get name(): string {
    return this.inner.name;
  }

  get progress(): { done: number; total: number } {
    return this.inner.progress;
  }

  private pull(): void {
    const chunk = new Uint8Array(PUSH_BYTES);
    const n = this.inner.read(chunk, 0, chunk.length);
    if (n === 0) this.ended = true;
    try {
      this.push(chunk.subarray(0, n), n === 0);
    } catch (e) {
      const what = this.compression === "gzip" ? "gzip" : "zstd";
      const msg = (e as Error).message ?? String(e);
      throw new InputError(/EOF|end/i.test(msg) ? `the ${what} data ends early (truncated)` : `the ${what} data is corrupt (${msg})`, this.name);
    }
  }

  read(buf: Uint8Array, offset: number, length: number): number {
    while (this.queue.length === 0 && !this.ended) this.pull();
    const first = this.queue[0];
    if (first === undefined) return 0;
    const n = Math.min(length, first.length - this.head);
    buf.set(first.subarray(this.head, this.head + n), offset);
    this.head += n;
    if (this.head === first.length) {
      this.queue.shift();
      this.head = 0;
    }
    return n;
  }

  close(): void {
    this.inner.close();
  }
}

/** A source whose first bytes can be looked at before they are read (format sniffing). */
export class PeekSource implements ByteSource {
  private buffered: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private eof = false;

  constructor(private readonly inner: ByteSource) {}

  get name(): string {
    return this.inner.name;
  }
  get size(): number | undefined {
    return this.inner.size;
  }
  get progress(): { done: number; total: number } {
    return this.inner.progress;
  }
  get compression(): Compression | undefined {
    return this.inner.compression;
  }

  /** Up to the first `n` bytes (fewer when the input is shorter), without consuming them. */
  peek(n: number): Uint8Array {
    if (this.pos !== 0) throw new Error("peek after read");
    if (this.buffered.length < n && !this.eof) {
      const b = new Uint8Array(n);
      b.set(this.buffered);
      let have = this.buffered.length;
      while (have < n) {
        const got = this.inner.read(b, have, n - have);
        if (got === 0) {
          this.eof = true;
          break;
        }
        have += got;
      }
      this.buffered = b.subarray(0, have);
    }
    return this.buffered.subarray(0, Math.min(n, this.buffered.length));
  }

  read(buf: Uint8Array, offset: number, length: number): number {
    if (this.pos < this.buffered.length) {
      const n = Math.min(length, this.buffered.length - this.pos);
      buf.set(this.buffered.subarray(this.pos, this.pos + n), offset);
      this.pos += n;
      return n;
    }
    return this.inner.read(buf, offset, length);
  }

  close(): void {
    this.inner.close();
  }
}

// ---- sniffing -------------------------------------------------------------------------------------

const startsWith = (b: Uint8Array, magic: readonly number[]) => b.length >= magic.length && magic.every((m, i) => b[i] === m);

/** Compressed formats by their magic bytes: the two read here, and others named in a clear error. */
const FORMATS: { magic: number[]; name: string; read?: Compression; tool?: string }[] = [
  { magic: [0x1f, 0x8b], name: "gzip", read: "gzip" },
  { magic: [0x28, 0xb5, 0x2f, 0xfd], name: "zstd", read: "zstd" },
  { magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], name: "xz", tool: "xz -d" },
  { magic: [0x42, 0x5a, 0x68], name: "bzip2", tool: "bunzip2" },
  { magic: [0x04, 0x22, 0x4d, 0x18], name: "lz4", tool: "lz4 -d" },
  { magic: [0x50, 0x4b, 0x03, 0x04], name: "zip", tool: "unzip" },
];

/** The compression of data starting with `head`: one this reads, or an InputError for another. */
export function sniffCompression(head: Uint8Array, name: string): Compression | undefined {
  for (const f of FORMATS)
    if (startsWith(head, f.magic)) {
      if (f.read) return f.read;
      throw new InputError(`${f.name}-compressed data is not read here (gzip and zstd are); decompress it first (${f.tool}) or recompress it with gzip or zstd`, name);
    }
  return undefined;
}

/**
 * Opens an input for reading as a stream: `-` is standard input (refused when it is a terminal), a
 * directory is refused, gzip and zstd data are decompressed. Peek at the result to sniff the
 * format of what is inside.
 */
export function openInput(path: string, expected = "a file"): PeekSource {
  let raw: ByteSource;
  if (path === "-") {
    let st;
    try {
      st = fstatSync(0);
    } catch (e) {
      throw readError(e, STDIN_NAME, expected);
    }
    if (isatty(0)) throw new InputError(`is a terminal; pipe the input into it (e.g. zcat t.trace.gz | iommu-emu ... -) or give a file name`, STDIN_NAME);
    raw = new FdSource(0, STDIN_NAME, st.isFile() ? st.size : undefined, false);
  } else if (sameStreamAs(path, 0)?.isFile() === false) {
    // /dev/stdin when standard input is a pipe or socket: no path opens it again (ENXIO for a socket)
    raw = new FdSource(0, path, undefined, false);
  } else {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (e) {
      throw readError(e, path, expected);
    }
    try {
      const st = fstatSync(fd);
      if (st.isDirectory()) throw new InputError(`is a directory; expected ${expected}`, path);
      raw = new FdSource(fd, path, st.isFile() ? st.size : undefined, true);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }
  return wrap(raw);
}

/** `raw` with its compression (sniffed from its first bytes) undone, ready to be peeked at. */
function wrap(raw: ByteSource): PeekSource {
  const peek = new PeekSource(raw);
  try {
    const compression = sniffCompression(peek.peek(6), raw.name);
    return compression ? new PeekSource(new DecompressSource(peek, compression)) : peek;
  } catch (e) {
    peek.close();
    throw e;
  }
}

// ---- text checks ----------------------------------------------------------------------------------

/**
 * The offset of the first byte of `b` that makes it not UTF-8 text, or of a NUL byte; -1 when there
 * is none. An incomplete sequence at the very end is allowed when `partial` (the head of a stream).
 */
export function firstNonText(b: Uint8Array, partial = false): number {
  const n = b.length;
  for (let i = 0; i < n; ) {
    const c = b[i]!;
    if (c < 0x80) {
      if (c === 0) return i;
      i++;
      continue;
    }
    // RFC 3629 table 3-7: well-formed sequences
    let len: number, lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c === 0xe0) lo = 0xa0;
      else if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c === 0xf0) lo = 0x90;
      else if (c === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k < len; k++) {
      if (i + k >= n) return partial ? -1 : i;
      const d = b[i + k]!;
      if (d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i;
    }
    i += len;
  }
  return -1;
}

/** "line L, column C" of byte offset `at` of `b` (columns count bytes). */
export function positionOf(b: Uint8Array, at: number): { line: number; column: number } {
  let line = 1, start = 0;
  for (let i = 0; i < at; i++) if (b[i] === 10) (line++, (start = i + 1));
  return { line, column: at - start + 1 };
}

/** The InputError for binary data at byte `at` of `b` (the bytes of `name` from its start). */
export function notTextError(b: Uint8Array, at: number, name: string, expected: string): InputError {
  const { line, column } = positionOf(b, at);
  const byte = b[at]!;
  const what = byte === 0 ? "a NUL byte" : `byte 0x${byte.toString(16).padStart(2, "0")}, not UTF-8,`;
  return new InputError(`not ${expected}: binary data (${what} at offset ${at})`, name, line, column);
}

/**
 * Reads a whole text input (scenario, sweep definition, results, importer input): decompressed
 * when gzip or zstd, a UTF-8 byte-order mark dropped; a directory, a NUL byte or bytes that are not
 * UTF-8 are InputErrors naming `what` was expected.
 */
export function readTextFile(path: string, expected: string): string {
  const src = openInput(path, expected);
  try {
    const bytes = readAllBytes(src);
    const bad = firstNonText(bytes);
    if (bad >= 0) throw notTextError(bytes, bad, src.name, expected);
    const bom = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
    return Buffer.from(bytes.buffer, bytes.byteOffset + bom, bytes.length - bom).toString("utf8");
  } finally {
    src.close();
  }
}

/** Everything left in `src` (decompressed), as one array; the source stays open. */
export function readAllBytes(src: ByteSource): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const b = new Uint8Array(src.size !== undefined && total === 0 ? Math.max(src.size, 1) + 1 : 1 << 20);
    const n = src.read(b, 0, b.length);
    if (n === 0) break;
    chunks.push(b.subarray(0, n));
    total += n;
  }
  return chunks.length === 1 ? chunks[0]! : chunks.length === 0 ? new Uint8Array(0) : Buffer.concat(chunks);
}

/**
 * openInput for the CLI: a FIFO is opened off the main thread (its open waits for a writer), so
 * that Ctrl-C is handled meanwhile; it gives up (rejecting with the signal's reason) once `signal`
 * is aborted. Anything else opens at once.
 */
export async function openInputAsync(path: string, expected: string, signal?: AbortSignal): Promise<PeekSource> {
  let fifo = false;
  try {
    fifo = path !== "-" && statSync(path).isFIFO();
  } catch {
    /* openInput reports it */
  }
  if (!fifo) return openInput(path, expected);
  const fd = await new Promise<number>((resolve, reject) => {
    const giveUp = () => {
      unblockFifoOpen(path, "read");
      reject(signal!.reason);
    };
    if (signal?.aborted) return giveUp();
    signal?.addEventListener("abort", giveUp, { once: true });
    openAsync(path, "r", (e, fd) => {
      signal?.removeEventListener("abort", giveUp);
      if (e) return reject(readError(e, path, expected));
      if (signal?.aborted) closeSync(fd);
      else resolve(fd);
    });
  });
  return wrap(new FdSource(fd, path, undefined, true));
}
