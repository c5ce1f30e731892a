/**
 * A {@linkcode ByteStream} over this process's stdin and stdout, for
 * `--stdio` (one connection, as an ssh ProxyCommand or from inetd).
 * @module
 */
import type { ByteStream } from "../net/stream.ts";

/** stdin (read) + stdout (write) as one stream. */
export class StdioStream implements ByteStream {
  readonly peer = "stdio";
  #outClosed = false;
  #inClosed = false;

  read(buf: Uint8Array): Promise<number | null> {
    if (this.#inClosed) return Promise.resolve(null);
    return Deno.stdin.read(buf);
  }

  async writeAll(data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) off += await Deno.stdout.write(data.subarray(off));
  }

  closeWrite(): Promise<void> {
    // Closing stdout is how a pipe signals end of stream to the reader.
    if (!this.#outClosed) {
      this.#outClosed = true;
      try {
        Deno.stdout.close();
      } catch { /* already closed */ }
    }
    return Promise.resolve();
  }

  close(): void {
    void this.closeWrite();
    if (!this.#inClosed) {
      this.#inClosed = true;
      try {
        Deno.stdin.close();
      } catch { /* already closed */ }
    }
  }
}
