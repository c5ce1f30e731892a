/**
 * The soak test's checking target: a TCP server that checks every byte a
 * session sends against the session's pseudo-random stream ({@linkcode ByteGen})
 * and answers with bytes from another stream that the client checks.
 * @module
 */
import { listenTcp } from "./targets.ts";
import { writeAll } from "./util.ts";

/** A pseudo-random byte stream (xorshift32) that can fill or check buffers. */
export class ByteGen {
  #x: number;
  #word = 0;
  #left = 0;
  /** Bytes produced or checked so far. */
  offset = 0;

  constructor(seed: number) {
    this.#x = (seed ^ 0x5bd1e995) | 0 || 1;
  }

  #next(): number {
    if (this.#left === 0) {
      let x = this.#x;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.#x = x;
      this.#word = x;
      this.#left = 4;
    }
    const b = this.#word & 0xff;
    this.#word >>>= 8;
    this.#left--;
    return b;
  }

  /** Fills `buf` with the next bytes. */
  fill(buf: Uint8Array): Uint8Array {
    for (let i = 0; i < buf.length; i++) buf[i] = this.#next();
    this.offset += buf.length;
    return buf;
  }

  /** Checks `buf` against the next bytes; returns the stream offset of the first difference, or -1. */
  check(buf: Uint8Array): number {
    for (let i = 0; i < buf.length; i++) {
      if (buf[i] !== this.#next()) {
        const at = this.offset + i;
        this.offset += buf.length;
        return at;
      }
    }
    this.offset += buf.length;
    return -1;
  }
}

/** What the checking target saw. */
export interface TargetStats {
  connections: number;
  upBytes: number;
  upCorrupt: number;
  upShort: number;
  downBytes: number;
  /** Where the first wrong up byte was. */
  firstCorrupt?: string;
}

/** A target that reads a 12-byte header (id, up, down), checks `up` bytes and sends `down`. */
export interface CheckTarget {
  port: number;
  stats: TargetStats;
  /** Per session id: up bytes checked and down bytes sent so far (for stuck-session reports). */
  progress: Map<number, { up: number; down: number; upWanted: number; downWanted: number }>;
  close(): Promise<void>;
}

/** A random whole number below `max`. */
export function rand(max: number): number {
  return Math.floor(Math.random() * (max + 1));
}

async function readFull(conn: Deno.Conn, buf: Uint8Array): Promise<boolean> {
  let off = 0;
  while (off < buf.length) {
    const n = await conn.read(buf.subarray(off));
    if (n === null) return false;
    off += n;
  }
  return true;
}

/** Starts the checking target on 127.0.0.1:0. */
export function startCheckTarget(): CheckTarget {
  const stats: TargetStats = { connections: 0, upBytes: 0, upCorrupt: 0, upShort: 0, downBytes: 0 };
  const progress: CheckTarget["progress"] = new Map();
  // A failed read or write: the session's client side reports it.
  const server = listenTcp(async (conn) => {
    stats.connections++;
    const hdr = new Uint8Array(12);
    if (!await readFull(conn, hdr)) return;
    const v = new DataView(hdr.buffer);
    const id = v.getUint32(0);
    const up = v.getUint32(4);
    const down = v.getUint32(8);
    const p = { up: 0, down: 0, upWanted: up, downWanted: down };
    progress.set(id, p);
    const reader = (async () => {
      const gen = new ByteGen(id * 2);
      const buf = new Uint8Array(65536);
      let got = 0;
      while (got < up) {
        const n = await conn.read(buf.subarray(0, Math.min(buf.length, up - got)));
        if (n === null) break;
        const at = gen.check(buf.subarray(0, n));
        if (at >= 0) {
          stats.upCorrupt++;
          stats.firstCorrupt ??= `up: session ${id} offset ${at} of ${up} (read of ${n})`;
          return;
        }
        got += n;
        p.up = got;
        stats.upBytes += n;
      }
      if (got < up) stats.upShort++;
    })();
    const writer = (async () => {
      const gen = new ByteGen(id * 2 + 1);
      let sent = 0;
      while (sent < down) {
        const chunk = gen.fill(new Uint8Array(Math.min(down - sent, 1 + rand(100000))));
        await writeAll(conn, chunk);
        sent += chunk.length;
        p.down = sent;
        stats.downBytes += chunk.length;
      }
    })();
    await Promise.all([reader, writer]);
  });
  return { port: server.port, stats, progress, close: server.close };
}
