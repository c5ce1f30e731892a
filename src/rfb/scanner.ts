/**
 * An incremental byte-count state machine for framing a protocol stream
 * that arrives in chunks of any size: the parser asks for a small header
 * (collected, then handed to it whole), or for a run of bytes to skip (a
 * rectangle's pixels, a clipboard text), or for a custom scan. Bytes go on
 * as they come: skipped runs and parsed headers are passed through as views
 * of the chunk (no copy of whole messages), unless the parser drops them or
 * replaces a header with other bytes. What RFB framing (`server_messages.ts`,
 * `filter.ts`) is built on.
 * @module
 */

/** What the parser does with the header it was handed (see {@linkcode ByteScanner.collect}). */
export type HeadFate = "pass" | "drop" | Uint8Array;

/** A parser step given a collected header: decides its fate and sets the next state. */
export type HeadStep = (head: Uint8Array) => HeadFate | void;

/**
 * A custom scan over `chunk` from `pos`: resolves how many bytes it consumed
 * (all passed); it sets the next state itself when its part ended.
 */
export type ScanStep = (chunk: Uint8Array, pos: number) => number;

/** Size of the header buffer at rest; a larger header grows it only while it is collected. */
const HEAD_AT_REST = 64;

const enum Kind {
  Collect,
  Skip,
  Scan,
}

/** The incremental framing machine; a parser drives it from its steps. */
export class ByteScanner {
  #kind = Kind.Collect;
  #want = 0;
  #head = new Uint8Array(HEAD_AT_REST);
  #have = 0;
  #onHead: HeadStep = () => {};
  #skip = 0;
  #skipPass = true;
  #afterSkip: () => void = () => {};
  #scan: ScanStep = () => 0;
  #stepped = false;

  /** Starts with nothing asked: set a first state with collect, skip or scan. */
  constructor() {}

  /** Collects the next `n` bytes (n ≥ 1) and hands them to `then` whole. */
  collect(n: number, then: HeadStep): void {
    this.#kind = Kind.Collect;
    this.#want = n;
    this.#have = 0;
    this.#onHead = then;
    this.#stepped = true;
  }

  /** Passes (or drops) the next `n` bytes, then calls `then` (at once when `n` is 0). */
  skip(n: number, pass: boolean, then: () => void): void {
    if (n <= 0) {
      then();
      return;
    }
    this.#kind = Kind.Skip;
    this.#skip = n;
    this.#skipPass = pass;
    this.#afterSkip = then;
    this.#stepped = true;
  }

  /** Hands the bytes to `step` until it sets another state. */
  scan(step: ScanStep): void {
    this.#kind = Kind.Scan;
    this.#scan = step;
    this.#stepped = true;
  }

  /**
   * Frames `chunk`; resolves the bytes to forward, in order (views of
   * `chunk` where possible). A step that throws leaves the machine broken:
   * the stream cannot be framed further.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    const len = chunk.length;
    let pos = 0;
    let run = 0; // start of the passed bytes not yet in out: [run, pos)
    while (pos < len) {
      if (this.#kind === Kind.Skip) {
        const n = Math.min(this.#skip, len - pos);
        if (!this.#skipPass) {
          if (pos > run) out.push(chunk.subarray(run, pos));
          run = pos + n;
        }
        pos += n;
        this.#skip -= n;
        if (this.#skip === 0) this.#after(this.#afterSkip);
        continue;
      }
      if (this.#kind === Kind.Scan) {
        this.#stepped = false;
        const n = this.#scan(chunk, pos);
        if (n === 0 && !this.#stepped) throw new Error("a scan step consumed nothing");
        pos += n;
        continue;
      }
      const need = this.#want - this.#have;
      const n = Math.min(need, len - pos);
      let head: Uint8Array;
      let earlier = 0; // bytes of the header that came in earlier chunks
      if (this.#have === 0 && n === need) {
        head = chunk.subarray(pos, pos + n); // whole in this chunk: no copy
      } else {
        if (this.#head.length < this.#want) {
          const bigger = new Uint8Array(Math.max(this.#want, this.#head.length * 2));
          bigger.set(this.#head.subarray(0, this.#have));
          this.#head = bigger;
        }
        this.#head.set(chunk.subarray(pos, pos + n), this.#have);
        earlier = this.#have;
        this.#have += n;
        if (n < need) {
          // Held until the header is whole: the passed bytes before it go now.
          if (pos > run) out.push(chunk.subarray(run, pos));
          pos += n;
          run = pos;
          break;
        }
        head = this.#head.subarray(0, this.#want);
      }
      const start = pos;
      pos += n;
      this.#have = 0;
      this.#stepped = false;
      const fate = this.#onHead(head) ?? "pass";
      if (!this.#stepped) throw new Error("a header step set no next state");
      if (fate === "pass") {
        if (earlier > 0) {
          // [run, start) was flushed when the header started; its earlier bytes come first.
          out.push(this.#head.slice(0, earlier));
          run = start;
        }
      } else {
        if (start > run) out.push(chunk.subarray(run, start));
        if (fate !== "drop") out.push(fate);
        run = pos;
      }
      // A large header (a SetEncodings body, up to 256 KiB) is done: give the
      // buffer back so an idle session holds only a small one. The bytes
      // above were copied or are views the caller owns now.
      // (The next header, if one was asked for, has nothing collected yet.)
      if (this.#head.length > HEAD_AT_REST) this.#head = new Uint8Array(HEAD_AT_REST);
    }
    if (pos > run) out.push(chunk.subarray(run, pos));
    return out;
  }

  /** Bytes the header buffer holds room for now (small at rest; for tests and memory checks). */
  get headCapacity(): number {
    return this.#head.length;
  }

  #after(then: () => void): void {
    this.#stepped = false;
    then();
    if (!this.#stepped) throw new Error("a skip step set no next state");
  }
}
