/**
 * The byte-stream seam (docs/ARCHITECTURE.md): everything above it (HTTP, WebSocket,
 * relay) works on this interface, whether the socket is Deno's or node's,
 * TCP, TLS or unix.
 * @module
 */
import type { Socket } from "node:net";
import { raceTimeout, STOPPED, TIMEOUT } from "../base/time.ts";

/** A bidirectional byte stream. */
export interface ByteStream {
  /** Reads into `buf`; resolves the count, or null at end of stream. */
  read(buf: Uint8Array): Promise<number | null>;
  /** Writes all of `data`; resolves once the OS (or TLS layer) has taken it. */
  writeAll(data: Uint8Array): Promise<void>;
  /** Shuts down the write side (half-close); the read side stays open. */
  closeWrite(): Promise<void>;
  /** Closes both sides; pending reads reject or resolve null. Safe to call twice. */
  close(): void;
  /** Peer address for logs: `1.2.3.4:5678`, `[::1]:5678` or `unix`. */
  readonly peer: string;
  /** Verified TLS client certificate subject CN, when the TLS layer verified one. */
  readonly clientCertCN?: string;
  /** Our own address on this connection (`ip:port`), for the PROXY protocol. */
  readonly local?: string;
  /**
   * Hands over the node socket under this stream, when there is one (a
   * connection accepted by a `node:net` listener), with the bytes already
   * read from it but not consumed. The stream is unusable afterwards. Lets
   * TLS run on the native socket instead of over this stream.
   */
  takeSocket?(): TakenSocket | undefined;
}

/** A node socket taken from a {@linkcode ByteStream}, see `takeSocket`. */
export interface TakenSocket {
  /** The socket, no longer read by the stream it came from. */
  socket: Socket;
  /** Bytes that came from the socket and were not consumed: they go first. */
  buffered: Uint8Array;
}

/** Options for {@linkcode DenoStream}. */
export interface DenoStreamOptions {
  /** Peer text for logs; derived from the conn's remote address when omitted. */
  peer?: string;
  /** Set TCP_NODELAY when the conn is a TCP conn (default true). */
  noDelay?: boolean;
}

function describe(addr: Deno.Addr): string {
  if (addr.transport === "tcp" || addr.transport === "udp") {
    const h = addr.hostname.startsWith("::ffff:") ? addr.hostname.slice(7) : addr.hostname;
    return h.includes(":") ? `[${h}]:${addr.port}` : `${h}:${addr.port}`;
  }
  return "unix";
}

/** {@linkcode ByteStream} over a `Deno.Conn` (TCP, TLS or unix). */
export class DenoStream implements ByteStream {
  /** The connection this stream reads and writes. */
  readonly conn: Deno.Conn;
  readonly peer: string;
  #closed = false;

  /** Wraps `conn`; sets TCP_NODELAY unless told not to. */
  constructor(conn: Deno.Conn, options: DenoStreamOptions = {}) {
    this.conn = conn;
    this.peer = options.peer ?? describe(conn.remoteAddr);
    if (options.noDelay !== false && "setNoDelay" in conn) {
      try {
        (conn as Deno.TcpConn).setNoDelay(true);
      } catch { /* not every conn type supports it */ }
    }
  }

  /** Our address on this connection; worked out when asked (only the PROXY protocol needs it). */
  get local(): string {
    return describe(this.conn.localAddr);
  }

  read(buf: Uint8Array): Promise<number | null> {
    return this.conn.read(buf);
  }

  async writeAll(data: Uint8Array): Promise<void> {
    // The first write takes `data` itself: a small update (most of a fleet's
    // traffic) goes out in one write, with no view allocated for it.
    if (data.length === 0) return;
    let off = await this.conn.write(data);
    while (off < data.length) off += await this.conn.write(data.subarray(off));
  }

  takeSocket(): TakenSocket | undefined {
    // Only a NodeConn (src/net/node_listener.ts) has a socket to give.
    const conn = this.conn as { takeSocket?: () => TakenSocket | undefined };
    return conn.takeSocket?.();
  }

  async closeWrite(): Promise<void> {
    try {
      await this.conn.closeWrite();
    } catch { /* already closed */ }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

/**
 * A stream whose first bytes were already read (sniffed): they are returned
 * by the first reads before the underlying stream is read again.
 */
export class PrefixedStream implements ByteStream {
  /** The stream after the prefix. */
  readonly inner: ByteStream;
  #prefix: Uint8Array;

  /** `prefix` is read first, then `inner`. */
  constructor(inner: ByteStream, prefix: Uint8Array) {
    this.inner = inner;
    this.#prefix = prefix;
  }

  get peer(): string {
    return this.inner.peer;
  }
  get clientCertCN(): string | undefined {
    return this.inner.clientCertCN;
  }
  get local(): string | undefined {
    return this.inner.local;
  }

  read(buf: Uint8Array): Promise<number | null> {
    if (this.#prefix.length > 0) {
      const n = Math.min(buf.length, this.#prefix.length);
      buf.set(this.#prefix.subarray(0, n));
      this.#prefix = this.#prefix.subarray(n);
      return Promise.resolve(n);
    }
    return this.inner.read(buf);
  }
  writeAll(data: Uint8Array): Promise<void> {
    return this.inner.writeAll(data);
  }
  takeSocket(): TakenSocket | undefined {
    const taken = this.inner.takeSocket?.();
    if (!taken || this.#prefix.length === 0) return taken;
    const buffered = new Uint8Array(this.#prefix.length + taken.buffered.length);
    buffered.set(this.#prefix);
    buffered.set(taken.buffered, this.#prefix.length);
    this.#prefix = new Uint8Array(0);
    return { socket: taken.socket, buffered };
  }
  closeWrite(): Promise<void> {
    return this.inner.closeWrite();
  }
  close(): void {
    this.inner.close();
  }
}

/**
 * One read of `stream` into `buf` that gives up at `deadline` (a `Date.now()`
 * time) or when `stop` aborts: the count, null at end of stream, or
 * `TIMEOUT`/`STOPPED`. A read given up on is left to end with the stream
 * (its outcome is not wanted).
 */
export async function readBefore(
  stream: ByteStream,
  buf: Uint8Array,
  deadline: number,
  stop?: AbortSignal,
): Promise<number | null | typeof TIMEOUT | typeof STOPPED> {
  const left = deadline - Date.now();
  if (left <= 0) return TIMEOUT;
  const read = stream.read(buf);
  const r = await raceTimeout(read, left, stop);
  if (r === STOPPED || r === TIMEOUT) read.catch(() => {});
  return r;
}
