/**
 * An in-memory pair of connected {@linkcode ByteStream}s with socket-like
 * semantics, so code above the stream seam (the relay engine's close and
 * timeout paths) can be tested without sockets or processes:
 * - what one side writes, the other reads, in order;
 * - `closeWrite()` is a FIN: the peer reads the bytes still buffered, then null;
 * - `close()` ends both directions: the peer reads what was buffered, then null,
 *   and the peer's writes reject (as a write to a closed socket does); our own
 *   pending and later reads and writes reject;
 * - each direction buffers at most `capacity` bytes: a writer whose reader
 *   does not read waits (backpressure), as with a full socket buffer.
 * @module
 */
import type { ByteStream } from "./stream.ts";

/** Options for {@linkcode memoryPair}. */
export interface MemoryPairOptions {
  /** Bytes each direction buffers before a writer waits (default 64 KiB). */
  capacity?: number;
  /** Peer texts of the two ends, for logs (default `memory:a`, `memory:b`). */
  names?: [string, string];
}

/** One direction: bytes written by one end, read by the other. */
class Pipe {
  readonly capacity: number;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  /** No more bytes will come (the writer's FIN or close). */
  #ended = false;
  /** The reader is gone: writes fail. */
  #broken = false;
  #readWaiter?: () => void;
  #writeWaiters: Array<() => void> = [];

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get ended(): boolean {
    return this.#ended;
  }

  async write(data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) {
      if (this.#broken) throw new Error("memory stream: the peer closed (broken pipe)");
      if (this.#ended) throw new Error("memory stream: write after closeWrite or close");
      const room = this.capacity - this.#buffered;
      if (room <= 0) {
        await new Promise<void>((r) => this.#writeWaiters.push(r));
        continue;
      }
      const take = Math.min(room, data.length - off);
      // A copy: callers reuse their buffer once the write resolves, as with a socket.
      this.#chunks.push(data.slice(off, off + take));
      this.#buffered += take;
      off += take;
      this.#wakeReader();
    }
  }

  async read(buf: Uint8Array, isClosed: () => boolean): Promise<number | null> {
    for (;;) {
      if (isClosed()) throw new Error("memory stream: read on a closed stream");
      if (this.#buffered > 0) break;
      if (this.#ended) return null;
      await new Promise<void>((r) => this.#readWaiter = r);
    }
    let n = 0;
    while (n < buf.length && this.#chunks.length > 0) {
      const c = this.#chunks[0];
      const take = Math.min(c.length, buf.length - n);
      buf.set(c.subarray(0, take), n);
      n += take;
      if (take === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(take);
    }
    this.#buffered -= n;
    this.#wakeWriters();
    return n;
  }

  /** The writer sends FIN: reads drain, then return null. */
  end(): void {
    this.#ended = true;
    this.#wakeReader();
    this.#wakeWriters();
  }

  /** The reader is gone: buffered bytes are dropped, writers fail. */
  break(): void {
    this.#broken = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.#wakeReader();
    this.#wakeWriters();
  }

  /** Wakes a pending read (to see a close of its own end). */
  wakeReader(): void {
    this.#wakeReader();
  }

  #wakeReader(): void {
    const r = this.#readWaiter;
    this.#readWaiter = undefined;
    r?.();
  }

  #wakeWriters(): void {
    const ws = this.#writeWaiters;
    this.#writeWaiters = [];
    for (const w of ws) w();
  }
}

/** One end of a {@linkcode memoryPair}. */
export interface MemoryStream extends ByteStream {
  /** Whether `close()` was called on this end. */
  readonly closed: boolean;
}

class MemoryEnd implements MemoryStream {
  readonly peer: string;
  readonly #in: Pipe;
  readonly #out: Pipe;
  #closed = false;

  /** `input` is read, `output` written. */
  constructor(input: Pipe, output: Pipe, peer: string) {
    this.#in = input;
    this.#out = output;
    this.peer = peer;
  }

  get closed(): boolean {
    return this.#closed;
  }

  read(buf: Uint8Array): Promise<number | null> {
    return this.#in.read(buf, () => this.#closed);
  }

  writeAll(data: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("memory stream: write on a closed stream"));
    return this.#out.write(data);
  }

  closeWrite(): Promise<void> {
    if (!this.#closed) this.#out.end();
    return Promise.resolve();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#out.end(); // the peer reads what is buffered, then null
    this.#in.break(); // the peer's writes fail
    this.#in.wakeReader(); // our own pending read rejects
  }
}

/** Two connected in-memory streams: what one writes, the other reads. */
export function memoryPair(options: MemoryPairOptions = {}): [MemoryStream, MemoryStream] {
  const capacity = options.capacity ?? 64 * 1024;
  if (!(capacity > 0)) throw new RangeError("memoryPair: capacity must be more than 0 bytes");
  const [nameA, nameB] = options.names ?? ["memory:a", "memory:b"];
  const aToB = new Pipe(capacity);
  const bToA = new Pipe(capacity);
  return [new MemoryEnd(bToA, aToB, nameA), new MemoryEnd(aToB, bToA, nameB)];
}
