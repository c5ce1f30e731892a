/**
 * Adapters between our {@linkcode ByteStream} and node streams, so node:tls
 * can run over a Deno socket (a node `Duplex` over a ByteStream) and node
 * sockets can be used above the seam (a ByteStream over a node socket):
 * TLS server and `--ssl-target-insecure` sockets, the bridge's wss://
 * connections, and connections accepted on an inherited listener.
 * @module
 */
import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import { formatHostPort } from "./address.ts";
import type { ByteStream } from "./stream.ts";

/** Bytes read from the Deno side in one go. */
const READ_SIZE = 64 * 1024;
/** Unread bytes queued before the node socket is paused (backpressure), by default. */
const HIGH_WATER = 256 * 1024;
/** How long close() waits to deliver close_notify before dropping the connection. */
const CLOSE_GRACE_MS = 1000;

/** Starts and stops reading from the Deno side of a {@linkcode duplexFromStream}. */
export interface Flow {
  /** Stops 'data' events (backpressure). */
  pause(): void;
  /** Restarts 'data' events. */
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
  const send = (d: Duplex, bytes: Uint8Array, callback: (e?: Error | null) => void) => {
    inFlight++;
    stream.writeAll(bytes).then(() => callback(), (e) => callback(e)).finally(() => {
      inFlight--;
      if (inFlight === 0 && d.writableLength === 0) {
        for (const f of idle.splice(0)) f();
      }
    });
  };
  const duplex: Duplex = new Duplex({
    allowHalfOpen: true,
    read() {
      if (paused) wanted = true;
      else pull(this);
    },
    write(chunk: Uint8Array, _encoding, callback) {
      send(this, chunk, callback);
    },
    // TLS hands over one chunk per record (up to 16 KiB): records queued
    // while a write is under way leave together, in one write call.
    writev(chunks: Array<{ chunk: Uint8Array }>, callback) {
      let total = 0;
      for (const c of chunks) total += c.chunk.length;
      const joined = new Uint8Array(total);
      let off = 0;
      for (const c of chunks) {
        joined.set(c.chunk, off);
        off += c.chunk.length;
      }
      send(this, joined, callback);
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
  /** Peer text for logs (default: the socket's remote address). */
  peer?: string;
  /** Verified client certificate CN (server side, `--verify-client`). */
  clientCertCN?: string;
  /**
   * Our address on this connection as the stream under TLS named it (the
   * address a load balancer's client connected to), for the PROXY header.
   */
  local?: string;
  /**
   * Reading of the stream under the socket (node:tls over a ByteStream),
   * paused with the socket. When given, close() first delivers the TLS
   * close_notify (waiting at most a second).
   */
  flow?: Flow;
  /** Pause the socket once this many bytes wait unread (default 256 KiB). */
  highWaterMark?: number;
}

/** The stream was closed (locally or by the peer) while a write waited or before it. */
export class StreamClosedError extends Error {}

function remotePeer(socket: Duplex): string {
  const { remoteAddress, remotePort } = socket as Partial<Socket>;
  return remoteAddress ? formatHostPort(remoteAddress, remotePort ?? 0) : "unknown";
}

/**
 * A {@linkcode ByteStream} over a node socket (`node:net` or `node:tls`).
 *
 * Backpressure: incoming chunks are queued; once the queue holds the high
 * water mark the socket (and its `flow`) is paused until reads drain it, so
 * a slow consumer stops the peer. Writes resolve on node's write callback,
 * once the socket (or TLS layer) has taken the bytes, so callers may reuse
 * the buffer.
 */
export class NodeSocketStream implements ByteStream {
  /** The node socket or Duplex this stream wraps. */
  readonly socket: Duplex;
  readonly peer: string;
  readonly clientCertCN?: string;
  readonly local?: string;
  readonly #flow?: Flow;
  readonly #highWater: number;
  readonly #queue: Uint8Array[] = [];
  #queued = 0;
  #paused = false;
  #ended = false;
  #error?: Error;
  /** Closed here: reads end, writes fail. */
  #closed = false;
  #wake?: () => void;
  readonly #pendingWrites = new Set<(e: Error) => void>();

  /** Wraps `socket` and starts reading from it on demand. */
  constructor(socket: Duplex, options: NodeSocketStreamOptions = {}) {
    this.socket = socket;
    this.peer = options.peer ?? remotePeer(socket);
    this.clientCertCN = options.clientCertCN;
    this.local = options.local;
    this.#flow = options.flow;
    this.#highWater = options.highWaterMark ?? HIGH_WATER;
    socket.on("data", this.#onData);
    socket.on("end", this.#onEnd);
    socket.on("error", this.#onError);
    socket.on("close", this.#onClose);
  }

  readonly #onData = (chunk: Uint8Array) => {
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    if (this.#queued >= this.#highWater && !this.#paused) {
      this.#paused = true;
      this.socket.pause();
      this.#flow?.pause();
    }
    this.#notify();
  };
  readonly #onEnd = () => {
    this.#ended = true;
    this.#notify();
  };
  readonly #onError = (e: Error) => {
    this.#error ??= e;
    this.#notify();
  };
  readonly #onClose = () => {
    this.#ended = true;
    this.#failWrites(this.#error ?? new StreamClosedError("connection closed during a write"));
    this.#notify();
  };

  /**
   * Lets go of the socket without closing it: stops listening to it, pauses
   * it, and returns the bytes received but not read yet. Reads end after this.
   */
  detach(): Uint8Array {
    const s = this.socket;
    s.off("data", this.#onData);
    s.off("end", this.#onEnd);
    s.off("error", this.#onError);
    s.off("close", this.#onClose);
    s.pause();
    this.#closed = true;
    this.#notify();
    const out = new Uint8Array(this.#queued);
    let off = 0;
    for (const c of this.#queue.splice(0)) {
      out.set(c, off);
      off += c.length;
    }
    this.#queued = 0;
    return out;
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
      if (this.#closed) return null;
      if (this.#queue.length > 0) break;
      // Data that arrived before an error is still delivered.
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    let n = 0;
    while (n < buf.length && this.#queue.length > 0) {
      const head = this.#queue[0];
      const take = Math.min(head.length, buf.length - n);
      buf.set(take === head.length ? head : head.subarray(0, take), n);
      n += take;
      if (take === head.length) this.#queue.shift();
      else this.#queue[0] = head.subarray(take);
    }
    this.#queued -= n;
    if (this.#paused && this.#queued < this.#highWater) {
      this.#paused = false;
      this.#flow?.resume();
      this.socket.resume();
    }
    return n;
  }

  writeAll(data: Uint8Array): Promise<void> {
    if (this.#closed || this.socket.destroyed) {
      return Promise.reject(this.#error ?? new StreamClosedError("write on a closed connection"));
    }
    return new Promise<void>((resolve, reject) => {
      this.#pendingWrites.add(reject);
      this.socket.write(data, (e?: Error | null) => {
        this.#pendingWrites.delete(reject);
        if (e) reject(e);
        else resolve();
      });
    });
  }

  async closeWrite(): Promise<void> {
    if (this.#closed || this.socket.destroyed || this.socket.writableEnded) return;
    // On TLS, end() sends close_notify; the TCP side stays open.
    await new Promise<void>((resolve) => {
      this.socket.end(() => resolve());
      // 'close' also settles it when the peer resets meanwhile.
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
    const flow = this.#flow;
    if (socket.destroyed || socket.writableEnded || !flow) {
      socket.destroy();
      return;
    }
    // Say goodbye with close_notify (TLS clients report a truncation
    // otherwise), but never wait long for a peer that does not read.
    const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
    socket.end();
    socket.once("finish", () => {
      flow.flushed().finally(() => {
        clearTimeout(timer);
        socket.destroy();
      });
    });
  }
}
