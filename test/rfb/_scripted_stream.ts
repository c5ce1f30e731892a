/**
 * A ByteStream for RFB unit tests: reads deliver the given bytes in chunks
 * of at most `chunk` bytes (1 = every field split across reads), then end;
 * writes are collected.
 * @module
 */
import type { ByteStream } from "../../src/net/stream.ts";
import { concatBytes } from "../../src/base/bytes.ts";

export class ScriptedStream implements ByteStream {
  readonly peer = "scripted";
  readonly written: Uint8Array[] = [];
  reads = 0;
  #input: Uint8Array;
  #off = 0;
  #chunk: number;
  closed = false;

  constructor(input: Uint8Array | number[], chunk = Infinity) {
    this.#input = input instanceof Uint8Array ? input : new Uint8Array(input);
    this.#chunk = chunk;
  }

  read(buf: Uint8Array): Promise<number | null> {
    this.reads++;
    if (this.#off >= this.#input.length) return Promise.resolve(null);
    const n = Math.min(buf.length, this.#chunk, this.#input.length - this.#off);
    buf.set(this.#input.subarray(this.#off, this.#off + n));
    this.#off += n;
    return Promise.resolve(n);
  }

  writeAll(data: Uint8Array): Promise<void> {
    this.written.push(data.slice());
    return Promise.resolve();
  }

  closeWrite(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {
    this.closed = true;
  }

  /** Everything written, in one array. */
  output(): Uint8Array {
    return concatBytes(this.written);
  }
}
