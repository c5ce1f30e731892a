/**
 * Adapters between our {@linkcode ByteStream} and node streams, so node:tls
 * can run over a Deno socket (a node `Duplex` over a ByteStream) and its
 * TLS sockets can be used above the seam (a ByteStream over a node socket).
 * @module
 */
import { Duplex } from "node:stream";
import type { ByteStream } from "./stream.ts";

/** Bytes read from the Deno side in one go. */
const READ_SIZE = 64 * 1024;
/** Decrypted bytes queued before the TLS socket is paused (backpressure). */
const HIGH_WATER = 256 * 1024;

/**
 * A node `Duplex` over a {@linkcode ByteStream}: node reads pull from
 * `stream.read`, node writes go through `stream.writeAll`, end() half-closes.
 */
export function duplexFromStream(stream: ByteStream): Duplex {
  const buf = new Uint8Array(READ_SIZE);
  return new Duplex({
    allowHalfOpen: true,
    read() {
      stream.read(buf).then(
        // push keeps a reference, so it gets a copy and the buffer is reused.
        (n) => this.push(n === null ? null : buf.slice(0, n)),
        (e) => this.destroy(e instanceof Error ? e : new Error(String(e))),
      );
    },
    write(chunk: Uint8Array, _encoding, callback) {
      stream.writeAll(chunk).then(() => callback(), (e) => callback(e));
    },
    final(callback) {
      stream.closeWrite().then(() => callback(), (e) => callback(e));
    },
    destroy(error, callback) {
      stream.close();
      callback(error);
    },
  });
}

/** Options for {@linkcode NodeSocketStream}. */
export interface NodeSocketStreamOptions {
  /** Peer text for logs. */
  peer: string;
  /** Verified client certificate CN (server side, `--verify-client`). */
  clientCertCN?: string;
}

/**
 * A {@linkcode ByteStream} over a node socket (here: a `tls.TLSSocket`).
 * Incoming chunks are queued; above {@linkcode HIGH_WATER} the socket is
 * paused until reads drain the queue, so a slow consumer stops the peer.
 */
export class NodeSocketStream implements ByteStream {
  readonly socket: Duplex;
  readonly peer: string;
  readonly clientCertCN?: string;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #error?: Error;
  #closed = false;
  #wake?: () => void;

  constructor(socket: Duplex, options: NodeSocketStreamOptions) {
    this.socket = socket;
    this.peer = options.peer;
    this.clientCertCN = options.clientCertCN;
    socket.on("data", (chunk: Uint8Array) => {
      this.#queue.push(chunk);
      this.#queued += chunk.length;
      if (this.#queued >= HIGH_WATER) socket.pause();
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
      this.#notify();
    });
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  async read(buf: Uint8Array): Promise<number | null> {
    while (this.#queue.length === 0) {
      if (this.#closed) return null;
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    const head = this.#queue[0];
    const n = Math.min(head.length, buf.length);
    buf.set(n === head.length ? head : head.subarray(0, n));
    if (n === head.length) this.#queue.shift();
    else this.#queue[0] = head.subarray(n);
    this.#queued -= n;
    if (this.#queued < HIGH_WATER && this.socket.isPaused()) this.socket.resume();
    return n;
  }

  writeAll(data: Uint8Array): Promise<void> {
    if (this.#closed || this.socket.destroyed) {
      return Promise.reject(new Error("write on a closed TLS stream"));
    }
    return new Promise((resolve, reject) => {
      let settled = false;
      const onClose = () => done(new Error("TLS stream closed during a write"));
      const done = (e?: Error | null) => {
        if (settled) return;
        settled = true;
        this.socket.off("close", onClose);
        if (e) reject(e);
        else resolve();
      };
      // The callback runs once the TLS layer has taken (encrypted) the bytes,
      // so the caller may reuse `data` afterwards.
      this.socket.once("close", onClose);
      this.socket.write(data, (e) => done(e));
    });
  }

  closeWrite(): Promise<void> {
    if (this.#closed || this.socket.writableEnded) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.end(() => resolve());
      this.socket.once("close", () => resolve());
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.socket.destroy();
    this.#notify();
  }
}
