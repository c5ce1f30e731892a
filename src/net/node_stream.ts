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
/** How long close() waits to deliver close_notify before dropping the connection. */
const CLOSE_GRACE_MS = 1000;

/** Starts and stops reading from the Deno side of a {@linkcode duplexFromStream}. */
export interface Flow {
  pause(): void;
  resume(): void;
  /** Resolves once every byte node wrote has reached the ByteStream. */
  flushed(): Promise<void>;
}

/**
 * A node `Duplex` over a {@linkcode ByteStream}: node reads pull from
 * `stream.read`, node writes go through `stream.writeAll`, end() half-closes.
 * `flow` stops the reads: pausing a node TLS socket does not stop it
 * from reading its underlying stream (measured under Deno), so the consumer
 * of the decrypted bytes pauses here instead.
 */
export function duplexFromStream(stream: ByteStream): { duplex: Duplex; flow: Flow } {
  const buf = new Uint8Array(READ_SIZE);
  let paused = false;
  let wanted = false;
  let inFlight = 0;
  const idle: Array<() => void> = [];
  const pull = (d: Duplex) => {
    stream.read(buf).then(
      // push keeps a reference, so it gets a copy and the buffer is reused.
      (n) => d.push(n === null ? null : buf.slice(0, n)),
      (e) => d.destroy(e instanceof Error ? e : new Error(String(e))),
    );
  };
  const duplex: Duplex = new Duplex({
    allowHalfOpen: true,
    read() {
      if (paused) wanted = true;
      else pull(this);
    },
    write(chunk: Uint8Array, _encoding, callback) {
      inFlight++;
      stream.writeAll(chunk).then(() => callback(), (e) => callback(e)).finally(() => {
        inFlight--;
        if (inFlight === 0 && this.writableLength === 0) {
          for (const f of idle.splice(0)) f();
        }
      });
    },
    final(callback) {
      stream.closeWrite().then(() => callback(), (e) => callback(e));
    },
    destroy(error, callback) {
      stream.close();
      callback(error);
    },
  });
  const flow: Flow = {
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      if (wanted) {
        wanted = false;
        pull(duplex);
      }
    },
    async flushed() {
      // One macrotask first: the TLS layer hands its last record (close_notify) over asynchronously.
      await new Promise((r) => setTimeout(r, 0));
      if (duplex.destroyed || (inFlight === 0 && duplex.writableLength === 0)) return;
      await new Promise<void>((resolve) => {
        idle.push(resolve);
        duplex.once("close", () => resolve());
      });
    },
  };
  return { duplex, flow };
}

/** Options for {@linkcode NodeSocketStream}. */
export interface NodeSocketStreamOptions {
  /** Peer text for logs. */
  peer: string;
  /** Verified client certificate CN (server side, `--verify-client`). */
  clientCertCN?: string;
  /** Reading of the stream under the socket, paused with the socket. */
  flow?: Flow;
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
  #flow?: Flow;
  #paused = false;
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
    this.#flow = options.flow;
    socket.on("data", (chunk: Uint8Array) => {
      this.#queue.push(chunk);
      this.#queued += chunk.length;
      if (this.#queued >= HIGH_WATER && !this.#paused) {
        this.#paused = true;
        socket.pause();
        this.#flow?.pause();
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
    if (this.#paused && this.#queued < HIGH_WATER) {
      this.#paused = false;
      this.#flow?.resume();
      this.socket.resume();
    }
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

  async closeWrite(): Promise<void> {
    if (this.#closed || this.socket.writableEnded) return;
    // TLS half-close: end() sends close_notify; the TCP side stays open.
    await new Promise<void>((resolve) => {
      this.socket.end(() => resolve());
      this.socket.once("close", () => resolve());
    });
    // Wait until close_notify is on the wire, so a close() right after cannot drop it.
    await this.#flow?.flushed();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#notify();
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded || !this.#flow) {
      socket.destroy();
      return;
    }
    // Say goodbye with close_notify (TLS clients report a truncation
    // otherwise), but never wait long for a peer that does not read.
    const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
    socket.end();
    socket.once("finish", () => {
      this.#flow!.flushed().finally(() => {
        clearTimeout(timer);
        socket.destroy();
      });
    });
  }
}
