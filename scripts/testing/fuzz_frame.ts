/**
 * Fuzz properties for the RFC 6455 frame codec (src/ws/frame.ts): random
 * frames round-trip through every chunking, and arbitrary bytes end in
 * events or a {@linkcode WsProtocolError} with a defined close code.
 * Shared by the fast tests (test/fuzz/frame_fuzz_test.ts) and `deno task fuzz`.
 * @module
 */
import fc from "fast-check";
import { applyEdits, type ByteEdit, byteEdits } from "./fuzz_edits.ts";
import {
  closePayload,
  encodeFrame,
  FrameDecoder,
  Opcode,
  WsProtocolError,
} from "../../src/ws/frame.ts";

/** Close codes the decoder may raise (protocol error, bad UTF-8, too big). */
export const DECODER_CLOSE_CODES: ReadonlySet<number> = new Set([1002, 1007, 1009]);

/** A decoded stream, normalised so that chunking does not change it. */
export interface Outcome {
  /** Whole messages, pings, pongs and the close, in order. */
  events: string[];
  /** Close code of the WsProtocolError that ended decoding, 0 if none. */
  error: number;
  /** Data bytes delivered in total (never more than the input). */
  dataBytes: number;
}

function hex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

/** Length and FNV-1a hash of the concatenated parts: cheap to compare for big messages. */
function digest(parts: Uint8Array[]): string {
  let h = 0x811c9dc5;
  let n = 0;
  for (const p of parts) {
    n += p.length;
    for (let i = 0; i < p.length; i++) h = Math.imul(h ^ p[i], 0x01000193);
  }
  return `${n}:${(h >>> 0).toString(16)}`;
}

/**
 * Decodes `stream` (copied first: the decoder unmasks in place) fed in
 * pieces ending at `cuts`. Anything other than a WsProtocolError escapes.
 */
export function decodeChunks(
  stream: Uint8Array,
  cuts: number[],
  options: { expectMasked: boolean; maxMessageBytes?: number },
): Outcome {
  const copy = stream.slice();
  const decoder = new FrameDecoder(options);
  const out: Outcome = { events: [], error: 0, dataBytes: 0 };
  let parts: Uint8Array[] = [];
  let msgOpcode = -1;
  const bounds = [...new Set(cuts.filter((c) => c > 0 && c < copy.length))].sort((a, b) => a - b);
  bounds.push(copy.length);
  let from = 0;
  try {
    for (const to of bounds) {
      decoder.push(copy.subarray(from, to));
      from = to;
      for (let ev = decoder.next(); ev !== null; ev = decoder.next()) {
        if (ev.kind === "data") {
          if (msgOpcode === -1) msgOpcode = ev.opcode;
          if (ev.opcode !== msgOpcode) throw new Error("opcode changed inside a message");
          parts.push(ev.bytes.slice());
          out.dataBytes += ev.bytes.length;
          if (ev.fin) {
            out.events.push(`msg ${msgOpcode} ${digest(parts)}`);
            parts = [];
            msgOpcode = -1;
          }
        } else if (ev.kind === "close") {
          out.events.push(`close ${ev.code} ${JSON.stringify(ev.reason)}`);
        } else {
          out.events.push(`${ev.kind} ${hex(ev.payload)}`);
        }
      }
    }
  } catch (e) {
    if (!(e instanceof WsProtocolError)) throw e;
    if (!DECODER_CLOSE_CODES.has(e.code)) {
      throw new Error(`WsProtocolError with undefined close code ${e.code}: ${e.message}`);
    }
    out.error = e.code;
    // Data already delivered of an unfinished message: keep it so outcomes compare.
    if (parts.length > 0) out.events.push(`partial ${msgOpcode} ${digest(parts)}`);
    return out;
  }
  if (parts.length > 0) out.events.push(`partial ${msgOpcode} ${digest(parts)}`);
  if (out.dataBytes > stream.length) throw new Error("decoder delivered more bytes than it got");
  return out;
}

/** Deterministic filler so large payloads cost no generator time. */
export function fill(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let x = (seed | 0) || 0x9e3779b9;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const payloadLength = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: 0, max: 125 }) },
  { weight: 2, arbitrary: fc.constantFrom(0, 1, 125, 126, 127, 65535, 65536) },
  { weight: 3, arbitrary: fc.integer({ min: 126, max: 65535 }) },
  { weight: 1, arbitrary: fc.integer({ min: 65536, max: 70000 }) },
);

const closeCode = fc.oneof(
  fc.constantFrom(1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014),
  fc.integer({ min: 3000, max: 4999 }),
);

const control = fc.record({
  kind: fc.constantFrom("ping" as const, "pong" as const),
  payload: fc.uint8Array({ maxLength: 125 }),
});

const message = fc.record({
  opcode: fc.constantFrom(Opcode.Binary, Opcode.Text),
  len: payloadLength,
  seed: fc.integer(),
  /** Fragment boundaries as fractions of the payload. */
  cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
  /** Control frames before fragment i (index into the fragment list, clamped). */
  controls: fc.array(fc.tuple(fc.nat(5), control), { maxLength: 3 }),
});

/** A random valid frame sequence: messages, interleaved controls, maybe a close. */
export const frameScript = fc.record({
  masked: fc.boolean(),
  messages: fc.array(message, { maxLength: 4 }),
  close: fc.option(
    fc.record({
      code: closeCode,
      reason: fc.string({ unit: "binary", maxLength: 30 }),
    }),
  ),
  emptyClose: fc.boolean(),
  splitSeed: fc.integer(),
  splitCount: fc.nat(12),
});

/** The script's encoded stream and the outcome it must decode to. */
export function buildScript(s: FrameScript): {
  stream: Uint8Array;
  expected: Outcome;
} {
  const frames: Uint8Array[] = [];
  const events: string[] = [];
  let dataBytes = 0;
  const mask = () => (s.masked ? crypto.getRandomValues(new Uint8Array(4)) : undefined);
  for (const m of s.messages) {
    const payload = fill(m.len, m.seed);
    dataBytes += m.len;
    const cuts = [...new Set(m.cuts.map((f) => Math.floor(f * m.len)))]
      .filter((c) => c > 0 && c < m.len)
      .sort((a, b) => a - b);
    const bounds = [0, ...cuts, m.len];
    const n = bounds.length - 1;
    for (let i = 0; i < n; i++) {
      for (const [at, c] of m.controls) {
        if (Math.min(at, n - 1) !== i) continue;
        frames.push(encodeFrame(c.kind === "ping" ? Opcode.Ping : Opcode.Pong, c.payload, {
          mask: mask(),
        }));
        events.push(`${c.kind} ${hex(c.payload)}`);
      }
      frames.push(encodeFrame(
        i === 0 ? m.opcode : Opcode.Continuation,
        payload.subarray(bounds[i], bounds[i + 1]),
        { fin: i === n - 1, mask: mask() },
      ));
    }
    events.push(`msg ${m.opcode} ${digest([payload])}`);
  }
  if (s.close) {
    const p = closePayload(s.close.code, s.close.reason);
    frames.push(encodeFrame(Opcode.Close, p, { mask: mask() }));
    const reason = new TextDecoder().decode(p.subarray(2));
    events.push(`close ${s.close.code} ${JSON.stringify(reason)}`);
  } else if (s.emptyClose) {
    frames.push(encodeFrame(Opcode.Close, new Uint8Array(0), { mask: mask() }));
    events.push(`close 1005 ""`);
  }
  const total = frames.reduce((a, f) => a + f.length, 0);
  const stream = new Uint8Array(total);
  let off = 0;
  for (const f of frames) {
    stream.set(f, off);
    off += f.length;
  }
  return { stream, expected: { events, error: 0, dataBytes } };
}

/** The generated script type. */
export type FrameScript = typeof frameScript extends fc.Arbitrary<infer T> ? T : never;

/** Cut points from a seed: `count` random positions in `[1, len)`. */
export function randomCuts(len: number, seed: number, count: number): number[] {
  const r = fill(count * 4, seed);
  const cuts: number[] = [];
  for (let i = 0; i < count && len > 1; i++) {
    const v = (r[4 * i] | (r[4 * i + 1] << 8) | (r[4 * i + 2] << 16)) >>> 0;
    cuts.push(1 + (v % (len - 1)));
  }
  return cuts;
}

function same(a: Outcome, b: Outcome, what: string): void {
  if (a.error !== b.error || a.events.length !== b.events.length) {
    throw new Error(
      `${what}: ${JSON.stringify(a).slice(0, 400)} != ${JSON.stringify(b).slice(0, 400)}`,
    );
  }
  for (let i = 0; i < a.events.length; i++) {
    if (a.events[i] !== b.events[i]) {
      throw new Error(
        `${what}: event ${i} differs: ${a.events[i].slice(0, 200)} / ${b.events[i].slice(0, 200)}`,
      );
    }
  }
}

/** Streams up to this size are also decoded byte by byte and split at every boundary. */
export const EXHAUSTIVE_SPLIT_LIMIT = 400;

/**
 * Round trip: a script encodes to a stream that decodes to exactly the
 * script's messages and controls, whole, in random chunks, byte by byte and
 * split in two at every byte boundary.
 */
export const frameRoundTrip: fc.IPropertyWithHooks<[FrameScript]> = fc.property(
  frameScript,
  (s) => {
    const { stream, expected } = buildScript(s);
    const opts = { expectMasked: s.masked };
    same(decodeChunks(stream, [], opts), expected, "whole stream");
    same(
      decodeChunks(stream, randomCuts(stream.length, s.splitSeed, s.splitCount), opts),
      expected,
      "random chunks",
    );
    if (stream.length <= 4096) {
      const every = Array.from({ length: stream.length }, (_, i) => i);
      same(decodeChunks(stream, every, opts), expected, "byte by byte");
    }
    if (stream.length <= EXHAUSTIVE_SPLIT_LIMIT) {
      for (let k = 1; k < stream.length; k++) {
        same(decodeChunks(stream, [k], opts), expected, `split at ${k}`);
      }
    }
  },
);

/**
 * Arbitrary bytes: decoding ends in events or a WsProtocolError with code
 * 1002/1007/1009 (checked in decodeChunks), and chunking changes nothing.
 */
export const frameRandomBytes: fc.IPropertyWithHooks<
  [Uint8Array, boolean, number, number, number]
> = fc.property(
  fc.uint8Array({ maxLength: 300 }),
  fc.boolean(),
  fc.constantFrom(0, 0, 1, 16, 200),
  fc.integer(),
  fc.nat(20),
  (bytes, expectMasked, maxMessageBytes, seed, count) => {
    const opts = { expectMasked, maxMessageBytes };
    const whole = decodeChunks(bytes, [], opts);
    same(decodeChunks(bytes, randomCuts(bytes.length, seed, count), opts), whole, "chunks");
    if (bytes.length <= 64) {
      same(
        decodeChunks(bytes, Array.from({ length: bytes.length }, (_, i) => i), opts),
        whole,
        "byte by byte",
      );
    }
  },
);

/** Valid streams with a few bytes flipped, inserted or cut: still only defined outcomes. */
export const frameMutated: fc.IPropertyWithHooks<
  [FrameScript, ByteEdit[], number]
> = fc.property(
  frameScript,
  byteEdits(6),
  fc.nat(6),
  (s, edits, count) => {
    let { stream } = buildScript(s);
    if (stream.length > 20000) stream = stream.subarray(0, 20000);
    const mutated = applyEdits(stream, edits);
    const opts = { expectMasked: s.masked, maxMessageBytes: 50000 };
    const whole = decodeChunks(mutated, [], opts);
    same(
      decodeChunks(mutated, randomCuts(mutated.length, s.splitSeed, count), opts),
      whole,
      "chunks",
    );
  },
);
