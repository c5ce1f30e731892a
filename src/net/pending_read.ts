/**
 * A stream whose first read is one that was started before the stream was
 * handed on: the proxy's sniff read (a silent client later relayed raw) and
 * the bridge's first local read (started while the WebSocket opens). The
 * read's bytes come first, then the inner stream's.
 * @module
 */
import { PrefixedStream } from "./stream.ts";
import type { ByteStream } from "./stream.ts";

/** {@linkcode ByteStream} that first delivers the result of a read already under way. */
export class PendingReadStream extends PrefixedStream {
  #pending?: Promise<number | null>;
  #buf: Uint8Array;
  #onFirst?: (bytes: Uint8Array) => void;
  #rest: Uint8Array = new Uint8Array(0);

  /**
   * Wraps `inner`; `pending` is a read into `buf` that was started on it.
   *
   * @param inner the stream the read was started on
   * @param pending the read under way, into `buf`
   * @param buf the buffer that read fills
   * @param onFirst called once with the bytes of that read, when they arrive
   */
  constructor(
    inner: ByteStream,
    pending: Promise<number | null>,
    buf: Uint8Array,
    onFirst?: (bytes: Uint8Array) => void,
  ) {
    super(inner, new Uint8Array(0));
    this.#pending = pending;
    this.#buf = buf;
    this.#onFirst = onFirst;
  }

  /**
   * The pending read's bytes first, then the inner stream's. Once they are
   * consumed this is PrefixedStream's plain path: no promise or microtask of
   * its own per read (the bridge reads its local stream through it for the
   * whole session).
   */
  override read(buf: Uint8Array): Promise<number | null> {
    if (this.#pending) return this.#first(buf);
    if (this.#rest.length > 0) return Promise.resolve(this.#take(buf));
    return super.read(buf);
  }

  /** Waits for the pending read, then delivers its bytes (or its EOF). */
  async #first(buf: Uint8Array): Promise<number | null> {
    const p = this.#pending!;
    this.#pending = undefined;
    const n = await p;
    if (n === null) return null;
    this.#rest = this.#buf.subarray(0, n);
    this.#onFirst?.(this.#rest);
    return this.#rest.length > 0 ? this.#take(buf) : super.read(buf);
  }

  /** Copies what fits of the pending read's rest into `buf`. */
  #take(buf: Uint8Array): number {
    const take = Math.min(this.#rest.length, buf.length);
    buf.set(this.#rest.subarray(0, take));
    this.#rest = this.#rest.subarray(take);
    return take;
  }
}
