/**
 * Output files appear whole or not at all: data goes to a temporary file beside the target, which
 * is renamed over it only when the run succeeds (DESIGN §3: a failed run leaves no partial output).
 */
import { closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

export class AtomicFile {
  private fd: number;
  private readonly tmp: string;
  private pending: string[] = [];
  private pendingBytes = 0;

  constructor(readonly path: string) {
    this.tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
    this.fd = openSync(this.tmp, "w");
  }

  write(s: string): void {
    this.pending.push(s);
    this.pendingBytes += s.length;
    if (this.pendingBytes > 1 << 20) this.flush();
  }

  private flush(): void {
    if (this.pending.length) writeSync(this.fd, this.pending.join(""));
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Makes the file visible under its final name. */
  commit(): void {
    this.flush();
    closeSync(this.fd);
    renameSync(this.tmp, this.path);
  }

  /** Removes the temporary file; the target is left as it was. */
  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
    rmSync(this.tmp, { force: true });
  }
}
