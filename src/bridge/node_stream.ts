/**
 * A {@linkcode ByteStream} over a node socket (`node:net` or `node:tls`).
 * The bridge needs node's TLS for `--insecure` (Deno's own TLS cannot skip
 * verification), so wss:// connections arrive as node sockets.
 *
 * Backpressure: incoming chunks are queued and the socket is paused once
 * the queue holds a buffer's worth, then resumed when reads drain it; writes
 * resolve only when node has flushed them, so callers may reuse the buffer.
 * @module
 */
import type { Socket } from "node:net";
import type { ByteStream } from "../net/stream.ts";

/** Options for {@linkcode NodeStream}. */
export interface NodeStreamOptions {
  /** Peer text for logs (default: the socket's remote address). */
  peer?: string;
  /** Pause the socket once this many bytes wait unread (default 64 KiB). */
  highWaterMark?: number;
}

/** The stream was closed (locally or by an error) while a write waited. */
export class StreamClosedError extends Error {}

/** {@linkcode ByteStream} over a connected node socket. */
export class NodeStream implements ByteStream {
  readonly socket: Socket;
  readonly peer: string;
  readonly #highWater: number;
  readonly #queue: Uint8Array[] = [];
  #queued = 0;
  #paused = false;
  #ended = false;
  #closed = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  readonly #pendingWrites = new Set<(e: Error) => void>();

  constructor(socket: Socket, options: NodeStreamOptions = {}) {
    this.socket = socket;
    this.#highWater = options.highWaterMark ?? 64 * 1024;
    const addr = socket.remoteAddress ?? "";
    this.peer = options.peer ??
      (addr.includes(":") ? `[${addr}]:${socket.remotePort}` : `${addr}:${socket.remotePort}`);
    socket.setNoDelay(true);
    socket.on("data", (chunk: Uint8Array) => {
      this.#queue.push(chunk);
      this.#queued += chunk.length;
      if (this.#queued >= this.#highWater && !this.#paused) {
        this.#paused = true;
        socket.pause();
      }
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (e: Error) => {
      this.#error ??= e;
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#closed = true;
      this.#failWrites(this.#error ?? new StreamClosedError("connection closed"));
      this.#notify();
    });
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  #failWrites(e: Error): void {
    for (const reject of this.#pendingWrites) reject(e);
    this.#pendingWrites.clear();
  }

  async read(buf: Uint8Array): Promise<number | null> {
    for (;;) {
      if (this.#queue.length > 0) {
        let n = 0;
        while (n < buf.length && this.#queue.length > 0) {
          const head = this.#queue[0];
          const take = Math.min(head.length, buf.length - n);
          buf.set(head.subarray(0, take), n);
          n += take;
          if (take === head.length) this.#queue.shift();
          else this.#queue[0] = head.subarray(take);
        }
        this.#queued -= n;
        if (this.#paused && this.#queued < this.#highWater && !this.#closed) {
          this.#paused = false;
          this.socket.resume();
        }
        return n;
      }
      // Data that arrived before an error is still delivered above.
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  writeAll(data: Uint8Array): Promise<void> {
    if (this.#closed || this.socket.destroyed) {
      return Promise.reject(this.#error ?? new StreamClosedError("connection closed"));
    }
    return new Promise<void>((resolve, reject) => {
      const fail = (e: Error) => reject(e);
      this.#pendingWrites.add(fail);
      this.socket.write(data, (err?: Error | null) => {
        this.#pendingWrites.delete(fail);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  closeWrite(): Promise<void> {
    if (this.#closed || this.socket.destroyed || this.socket.writableEnded) {
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.socket.end(() => resolve());
      // 'close' also settles it when the peer resets meanwhile.
      this.socket.once("close", () => resolve());
    });
  }

  close(): void {
    if (this.#closed && this.socket.destroyed) return;
    this.socket.destroy();
  }
}
