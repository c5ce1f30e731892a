/**
 * Buffered reads of exact sizes from a byte stream, the way an RFB peer
 * reads messages: a message is parsed from whole fields, never from a
 * partial TCP read.
 * @module
 */
import type { ByteStream } from "../net/stream.ts";

/** The peer closed the connection in the middle of (or before) a message. */
export class RfbEndOfStream extends Error {}

/** The peer broke the protocol (bad version, unknown message); the message says how. */
export class RfbProtocolError extends Error {}

/** Buffered reads of exact sizes from a {@linkcode ByteStream}. */
export class RfbReader {
  #stream: ByteStream;
  #buf: Uint8Array;
  #start = 0;
  #end = 0;

  /** Reads from `stream` through a buffer of `bufferBytes` (default 64 KiB; grows for bigger takes). */
  constructor(stream: ByteStream, bufferBytes = 64 * 1024) {
    this.#stream = stream;
    this.#buf = new Uint8Array(bufferBytes);
  }

  /**
   * The next `n` bytes, as a view valid until the next call. Rejects with
   * {@linkcode RfbEndOfStream} when the stream ends first.
   */
  async take(n: number): Promise<Uint8Array> {
    if (this.#end - this.#start < n) {
      if (n > this.#buf.length) {
        const bigger = new Uint8Array(n);
        bigger.set(this.#buf.subarray(this.#start, this.#end));
        this.#end -= this.#start;
        this.#start = 0;
        this.#buf = bigger;
      } else if (this.#buf.length - this.#start < n) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
      while (this.#end - this.#start < n) {
        const r = await this.#stream.read(this.#buf.subarray(this.#end));
        if (r === null) throw new RfbEndOfStream("the peer closed the connection");
        this.#end += r;
      }
    }
    const out = this.#buf.subarray(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  /** The next byte. */
  async u8(): Promise<number> {
    return (await this.take(1))[0];
  }

  /** The next `n` bytes as a DataView (valid until the next call). */
  async view(n: number): Promise<DataView> {
    const b = await this.take(n);
    return new DataView(b.buffer, b.byteOffset, n);
  }

  /**
   * The bytes read from the stream but not taken yet (a copy), and the
   * buffer emptied: what goes first when the stream is handed on.
   */
  rest(): Uint8Array {
    const out = this.#buf.slice(this.#start, this.#end);
    this.#start = this.#end = 0;
    return out;
  }

  /** 4 bytes, big-endian. */
  async u32(): Promise<number> {
    return (await this.view(4)).getUint32(0);
  }

  /**
   * Whatever comes next, without waiting for a size: the bytes already
   * buffered, else one read from the stream; null at the end of the stream.
   * For a peer whose messages are dropped rather than parsed. A view valid
   * until the next call.
   */
  async some(): Promise<Uint8Array | null> {
    if (this.#end > this.#start) {
      const out = this.#buf.subarray(this.#start, this.#end);
      this.#start = this.#end = 0;
      return out;
    }
    this.#start = this.#end = 0;
    const r = await this.#stream.read(this.#buf);
    return r === null ? null : this.#buf.subarray(0, r);
  }
}
