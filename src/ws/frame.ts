/**
 * RFC 6455 framing: a streaming decoder that never buffers a whole message
 * (data frames come out as they arrive, unmasked in place) and encoders that
 * write the header in front of a payload so one write sends a frame.
 * @module
 */

import { simdUnmasker } from "./unmask.ts";

/** Opcodes (RFC 6455 §5.2). */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** Close codes vncws sends (RFC 6455 §7.4.1). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  Unsupported: 1003,
  NoStatus: 1005,
  Abnormal: 1006,
  InvalidData: 1007,
  PolicyViolation: 1008,
  TooBig: 1009,
  InternalError: 1011,
} as const;

/** Largest header a server (unmasked) frame needs: 2 + 8 bytes. */
export const MAX_SERVER_HEADER = 10;

/** A violation of the protocol by the peer: close with `code` and `reason`. */
export class WsProtocolError extends Error {
  /** The close code to send (1002, 1007, 1009...). */
  readonly code: number;
  /** A violation closed with `code`; `reason` goes in the close frame. */
  constructor(code: number, reason: string) {
    super(reason);
    this.code = code;
  }
}

/** Header length for a payload of `len` bytes (without mask key). */
export function headerLength(len: number): number {
  return len < 126 ? 2 : len < 65536 ? 4 : 10;
}

/**
 * Writes a frame header ending exactly at `end` in `buf` (so the payload can
 * already sit right after it) and returns the header's start offset.
 * `mask` (4 bytes) adds a mask key after the length (client frames).
 */
export function writeHeaderBefore(
  buf: Uint8Array,
  end: number,
  opcode: number,
  len: number,
  options: { fin?: boolean; mask?: Uint8Array } = {},
): number {
  const maskLen = options.mask ? 4 : 0;
  const start = end - headerLength(len) - maskLen;
  if (start < 0) throw new RangeError("no room for the frame header");
  buf[start] = (options.fin === false ? 0 : 0x80) | opcode;
  const m = options.mask ? 0x80 : 0;
  if (len < 126) {
    buf[start + 1] = m | len;
  } else if (len < 65536) {
    buf[start + 1] = m | 126;
    buf[start + 2] = len >>> 8;
    buf[start + 3] = len & 0xff;
  } else {
    buf[start + 1] = m | 127;
    const hi = Math.floor(len / 0x100000000);
    const lo = len >>> 0;
    buf[start + 2] = hi >>> 24;
    buf[start + 3] = (hi >>> 16) & 0xff;
    buf[start + 4] = (hi >>> 8) & 0xff;
    buf[start + 5] = hi & 0xff;
    buf[start + 6] = lo >>> 24;
    buf[start + 7] = (lo >>> 16) & 0xff;
    buf[start + 8] = (lo >>> 8) & 0xff;
    buf[start + 9] = lo & 0xff;
  }
  if (options.mask) buf.set(options.mask, end - 4);
  return start;
}

/** Encodes a whole frame into a new array (control frames, tests, clients). */
export function encodeFrame(
  opcode: number,
  payload: Uint8Array,
  options: { fin?: boolean; mask?: Uint8Array } = {},
): Uint8Array {
  const hlen = headerLength(payload.length) + (options.mask ? 4 : 0);
  const out = new Uint8Array(hlen + payload.length);
  writeHeaderBefore(out, hlen, opcode, payload.length, options);
  out.set(payload, hlen);
  if (options.mask) maskInPlace(out.subarray(hlen), options.mask, 0);
  return out;
}

const encoder = new TextEncoder();

/** Encodes a close frame payload (code + UTF-8 reason, cut to fit 125 bytes). */
export function closePayload(code: number, reason = ""): Uint8Array {
  let r = encoder.encode(reason);
  if (r.length > 123) r = r.subarray(0, 123);
  const out = new Uint8Array(2 + r.length);
  out[0] = code >>> 8;
  out[1] = code & 0xff;
  out.set(r, 2);
  return out;
}

/**
 * From this many bytes on, {@linkcode maskInPlace} hands the work to
 * WebAssembly SIMD (unmask.ts); below it, copying in and out costs more
 * than the JS loop saves.
 */
const SIMD_MIN = 256;

/**
 * XORs `data` with the 4-byte `mask`, starting at mask position `pos` (0–3).
 * Returns the mask position after the data. Large spans go to WebAssembly
 * SIMD when the runtime has it; otherwise, and for small spans, works 4
 * bytes at a time on the aligned middle part.
 */
export function maskInPlace(data: Uint8Array, mask: Uint8Array, pos: number): number {
  const n = data.length;
  if (n >= SIMD_MIN && simdUnmasker) {
    simdUnmasker(data, maskWord(mask, pos));
    return (pos + n) & 3;
  }
  let i = 0;
  // Head: until the buffer address is 4-byte aligned.
  while (i < n && ((data.byteOffset + i) & 3) !== 0) {
    data[i] ^= mask[(pos + i) & 3];
    i++;
  }
  const words = (n - i) >>> 2;
  if (words > 0) {
    const p = pos + i;
    const m = maskWord(mask, p);
    const u32 = new Uint32Array(data.buffer, data.byteOffset + i, words);
    for (let w = 0; w < words; w++) u32[w] ^= m;
    i += words << 2;
  }
  while (i < n) {
    data[i] ^= mask[(pos + i) & 3];
    i++;
  }
  return (pos + n) & 3;
}

/** The little-endian word of `mask` rotated to mask position `p`. */
function maskWord(mask: Uint8Array, p: number): number {
  return mask[p & 3] | (mask[(p + 1) & 3] << 8) | (mask[(p + 2) & 3] << 16) |
    (mask[(p + 3) & 3] << 24);
}

/** What {@linkcode FrameDecoder.next} yields. Objects are reused: copy what you keep. */
export type FrameEvent =
  | { kind: "data"; opcode: number; bytes: Uint8Array; fin: boolean }
  | { kind: "ping"; payload: Uint8Array }
  | { kind: "pong"; payload: Uint8Array }
  | { kind: "close"; code: number; reason: string };

/** Options for {@linkcode FrameDecoder}. */
export interface DecoderOptions {
  /** Server side: client frames must be masked (1002 otherwise). Client side: must not be. */
  expectMasked: boolean;
  /** Max bytes of one message (across continuation frames); 0 = no limit (1009 beyond). */
  maxMessageBytes?: number;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The payload of empty data frames (never written to). */
const EMPTY = new Uint8Array(0);

/**
 * Streaming frame decoder. Feed each chunk with {@linkcode push}, then call
 * {@linkcode next} until it returns null. Data payloads are returned as
 * subarrays of the chunk, unmasked in place, possibly in several pieces.
 */
export class FrameDecoder {
  readonly #expectMasked: boolean;
  readonly #maxMessage: number;
  #chunk: Uint8Array = new Uint8Array(0);
  #off = 0;
  // Header assembly across chunk boundaries (max 14 bytes).
  readonly #hdr = new Uint8Array(14);
  #hdrLen = 0;
  // Current frame.
  #inFrame = false;
  #opcode = 0;
  #fin = false;
  #remaining = 0;
  readonly #mask = new Uint8Array(4);
  #masked = false;
  #maskPos = 0;
  // Current message (data frames).
  #inMessage = false;
  #messageOpcode = 0;
  #messageBytes = 0;
  // Control frame payload assembly (≤125 bytes).
  readonly #ctrl = new Uint8Array(125);
  #ctrlLen = 0;
  #closed = false;
  readonly #data: { kind: "data"; opcode: number; bytes: Uint8Array; fin: boolean } = {
    kind: "data",
    opcode: 0,
    bytes: EMPTY,
    fin: false,
  };

  /** A decoder for one direction of one connection. */
  constructor(options: DecoderOptions) {
    this.#expectMasked = options.expectMasked;
    this.#maxMessage = options.maxMessageBytes ?? 0;
  }

  /** Opcode of the message in progress (text or binary), for logs and relays. */
  get messageOpcode(): number {
    return this.#messageOpcode;
  }

  /** Sets the next chunk to decode; the previous one must be fully consumed. */
  push(chunk: Uint8Array): void {
    this.#chunk = chunk;
    this.#off = 0;
  }

  /** The next event from the current chunk, or null when it is used up. Throws {@linkcode WsProtocolError}. */
  next(): FrameEvent | null {
    for (;;) {
      if (this.#closed) return null;
      if (!this.#inFrame) {
        if (!this.#readHeader()) return null;
        if (this.#isControl() && this.#remaining === 0) return this.#controlDone();
        if (!this.#isControl() && this.#remaining === 0) {
          // Empty data frame: report it only when it ends a message.
          if (this.#fin) {
            this.#inMessage = false;
            this.#inFrame = false;
            return this.#dataEvent(EMPTY, true);
          }
          this.#inFrame = false;
          continue;
        }
      }
      const avail = this.#chunk.length - this.#off;
      if (avail === 0) return null;
      const take = Math.min(avail, this.#remaining);
      const bytes = this.#chunk.subarray(this.#off, this.#off + take);
      this.#off += take;
      this.#remaining -= take;
      if (this.#masked) this.#maskPos = maskInPlace(bytes, this.#mask, this.#maskPos);
      if (this.#isControl()) {
        this.#ctrl.set(bytes, this.#ctrlLen);
        this.#ctrlLen += take;
        if (this.#remaining === 0) return this.#controlDone();
        continue;
      }
      const done = this.#remaining === 0;
      if (done) this.#inFrame = false;
      const fin = done && this.#fin;
      if (fin) this.#inMessage = false;
      return this.#dataEvent(bytes, fin);
    }
  }

  /** The one data event, refilled: a read of many frames allocates no event per frame. */
  #dataEvent(bytes: Uint8Array, fin: boolean): FrameEvent {
    const ev = this.#data;
    ev.opcode = this.#messageOpcode;
    ev.bytes = bytes;
    ev.fin = fin;
    return ev;
  }

  #isControl(): boolean {
    return (this.#opcode & 0x8) !== 0;
  }

  #need(n: number): boolean {
    while (this.#hdrLen < n) {
      if (this.#off >= this.#chunk.length) return false;
      this.#hdr[this.#hdrLen++] = this.#chunk[this.#off++];
    }
    return true;
  }

  /** Assembles and validates a header; false when more bytes are needed. */
  #readHeader(): boolean {
    if (!this.#need(2)) return false;
    const b0 = this.#hdr[0];
    const b1 = this.#hdr[1];
    const len7 = b1 & 0x7f;
    const masked = (b1 & 0x80) !== 0;
    const total = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
    if (!this.#need(total)) return false;
    this.#hdrLen = 0;
    if ((b0 & 0x70) !== 0) throw new WsProtocolError(CloseCode.ProtocolError, "reserved bits set");
    const opcode = b0 & 0x0f;
    const fin = (b0 & 0x80) !== 0;
    if (masked !== this.#expectMasked) {
      throw new WsProtocolError(
        CloseCode.ProtocolError,
        this.#expectMasked ? "frame not masked" : "server frame must not be masked",
      );
    }
    let len = len7;
    let p = 2;
    if (len7 === 126) {
      len = (this.#hdr[2] << 8) | this.#hdr[3];
      p = 4;
    } else if (len7 === 127) {
      const hi =
        ((this.#hdr[2] << 24) | (this.#hdr[3] << 16) | (this.#hdr[4] << 8) | this.#hdr[5]) >>> 0;
      const lo =
        ((this.#hdr[6] << 24) | (this.#hdr[7] << 16) | (this.#hdr[8] << 8) | this.#hdr[9]) >>> 0;
      if (hi & 0x80000000) {
        throw new WsProtocolError(CloseCode.ProtocolError, "frame length has the top bit set");
      }
      if (hi >= 0x200000) throw new WsProtocolError(CloseCode.TooBig, "frame length beyond 2^53");
      len = hi * 0x100000000 + lo;
      p = 10;
    }
    if (masked) this.#mask.set(this.#hdr.subarray(p, p + 4));
    if (opcode & 0x8) {
      if (opcode !== Opcode.Close && opcode !== Opcode.Ping && opcode !== Opcode.Pong) {
        throw new WsProtocolError(CloseCode.ProtocolError, `unknown opcode ${opcode}`);
      }
      if (!fin) throw new WsProtocolError(CloseCode.ProtocolError, "fragmented control frame");
      if (len > 125) {
        throw new WsProtocolError(CloseCode.ProtocolError, "control frame longer than 125 bytes");
      }
      this.#ctrlLen = 0;
    } else if (opcode === Opcode.Continuation) {
      if (!this.#inMessage) {
        throw new WsProtocolError(CloseCode.ProtocolError, "continuation frame without a message");
      }
    } else if (opcode === Opcode.Text || opcode === Opcode.Binary) {
      if (this.#inMessage) {
        throw new WsProtocolError(CloseCode.ProtocolError, "new message before the last one ended");
      }
      this.#inMessage = true;
      this.#messageOpcode = opcode;
      this.#messageBytes = 0;
    } else {
      throw new WsProtocolError(CloseCode.ProtocolError, `unknown opcode ${opcode}`);
    }
    if (!(opcode & 0x8)) {
      this.#messageBytes += len;
      if (this.#maxMessage > 0 && this.#messageBytes > this.#maxMessage) {
        throw new WsProtocolError(
          CloseCode.TooBig,
          `message larger than ${this.#maxMessage} bytes`,
        );
      }
    }
    this.#opcode = opcode;
    this.#fin = fin;
    this.#remaining = len;
    this.#masked = masked;
    this.#maskPos = 0;
    this.#inFrame = true;
    return true;
  }

  #controlDone(): FrameEvent {
    this.#inFrame = false;
    const payload = this.#ctrl.slice(0, this.#ctrlLen);
    if (this.#opcode === Opcode.Ping) return { kind: "ping", payload };
    if (this.#opcode === Opcode.Pong) return { kind: "pong", payload };
    this.#closed = true;
    if (payload.length === 0) return { kind: "close", code: CloseCode.NoStatus, reason: "" };
    if (payload.length === 1) {
      throw new WsProtocolError(CloseCode.ProtocolError, "close payload of 1 byte");
    }
    const code = (payload[0] << 8) | payload[1];
    if (!validCloseCode(code)) {
      throw new WsProtocolError(CloseCode.ProtocolError, `invalid close code ${code}`);
    }
    let reason: string;
    try {
      reason = utf8.decode(payload.subarray(2));
    } catch {
      throw new WsProtocolError(CloseCode.InvalidData, "close reason is not UTF-8");
    }
    return { kind: "close", code, reason };
  }
}

/** Whether a peer may send `code` in a close frame (RFC 6455 §7.4). */
export function validCloseCode(code: number): boolean {
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006;
}
