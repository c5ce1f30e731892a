/**
 * A made-up RFB session with one of every message each way and a
 * FramebufferUpdate in every encoding the policy filter frames
 * (src/rfb/filter.ts), with what the filter must forward under a given
 * policy; and a driver that runs a session's steps through the filter in
 * chunks of chosen sizes. The filter's unit tests and its fuzz target
 * share them.
 * @module
 */
import { type DropKind, RfbFilter } from "../../src/rfb/filter.ts";
import type { RfbPolicy } from "../../src/rfb/policy.ts";
import type { ByteStream } from "../../src/net/stream.ts";

/** One step of a session: bytes one side sends, and what the filter forwards. */
export interface SessionStep {
  /** Who sends: the VNC server (read through the filter) or the viewer (written through it). */
  from: "server" | "client";
  /** What the sender sends. */
  input: ArrayLike<number>;
  /** What the filter forwards under the policy the session was built for. */
  expected: number[];
  /** The message's drop kind when the policy drops it. */
  dropped?: DropKind;
}

const be16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const be32 = (n: number) => [(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
const bytes = (n: number, seed = 7) => Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const text = (s: string) => [...new TextEncoder().encode(s)];

/** 32 bits per pixel, depth 24, true colour 8/8/8: Tight's 3-byte TPIXEL. */
const PF32 = [32, 24, 0, 1, ...be16(255), ...be16(255), ...be16(255), 16, 8, 0, 0, 0, 0];

function rect(x: number, y: number, w: number, h: number, enc: number): number[] {
  return [...be16(x), ...be16(y), ...be16(w), ...be16(h), ...be32(enc)];
}

/** A Tight compact length. */
function compact(n: number): number[] {
  if (n < 0x80) return [n];
  if (n < 0x4000) return [(n & 0x7f) | 0x80, n >> 7];
  return [(n & 0x7f) | 0x80, ((n >> 7) & 0x7f) | 0x80, n >> 14];
}

/** Rectangles in every encoding framed, with pseudo-encodings (32 bits per pixel). */
export function sampleRectangles(): number[][] {
  // deno-fmt-ignore: one tile (one JPEG segment) a line
  const hextile = [
    ...rect(0, 0, 20, 18, 5),
    1, ...bytes(16 * 16 * 4), // raw tile
    2 | 4 | 8 | 16, ...bytes(4), ...bytes(4), 2, ...bytes(6), ...bytes(6), // coloured subrects
    8, 1, 0x11, 0x22, // one plain subrect
    1, ...bytes(4 * 2 * 4), // raw tile of 4×2
  ];
  // deno-fmt-ignore: one tile (one JPEG segment) a line
  const jpeg = [
    ...rect(0, 0, 8, 8, 21),
    0xff, 0xd8, // SOI
    0xff, 0xdb, ...be16(4), 1, 2, // DQT
    0xff, 0xda, ...be16(3), 9, // SOS
    1, 2, 0xff, 0x00, 3, 0xff, 0xd3, 4, 5, // entropy-coded data with a stuffed 0xFF and RST3
    0xff, 0xd9, // EOI
  ];
  return [
    [...rect(0, 0, 2, 2, 0), ...bytes(16)], // Raw
    [...rect(4, 4, 2, 2, 1), ...be16(0), ...be16(0)], // CopyRect
    [...rect(0, 0, 8, 8, 2), ...be32(2), ...bytes(4), ...bytes(24)], // RRE
    hextile,
    [...rect(0, 0, 4, 4, 6), ...be32(5), ...bytes(5)], // Zlib
    [...rect(0, 0, 4, 4, 7), 0x80, 1, 2, 3], // Tight fill
    [...rect(0, 0, 4, 4, 7), 0x93, ...compact(200), ...bytes(200)], // Tight JPEG, stream resets
    [...rect(0, 0, 2, 1, 7), 0x00, ...bytes(6)], // Tight basic, under 12 bytes: raw
    [...rect(0, 0, 10, 10, 7), 0x10, ...compact(20000), ...bytes(20000)], // basic, stream 1
    [...rect(0, 0, 10, 2, 7), 0x40, 1, 1, ...bytes(6), ...bytes(4)], // 2-colour palette
    [...rect(0, 0, 10, 4, 7), 0x60, 1, 3, ...bytes(12), ...compact(40), ...bytes(40)],
    [...rect(0, 0, 10, 4, 7), 0x40, 2, ...compact(33), ...bytes(33)], // gradient
    [...rect(0, 0, 4, 4, 16), ...be32(9), ...bytes(9)], // ZRLE
    [...rect(0, 0, 4, 4, -260), 0xa0, ...compact(300), ...bytes(300)], // TightPNG
    jpeg,
    [...rect(0, 0, 4, 4, 50), ...be32(10), ...be32(0), ...bytes(10)], // H.264
    [...rect(1, 1, 2, 2, -239), ...bytes(16), ...bytes(2)], // Cursor
    [...rect(1, 1, 9, 2, -240), ...bytes(6), ...bytes(8)], // XCursor
    [...rect(0, 0, 0, 0, -240)], // XCursor: hidden
    [...rect(1, 1, 2, 2, 0x574d5664), 1, 0, ...bytes(16)], // VMware cursor, alpha
    [...rect(0, 0, 640, 480, -223)], // DesktopSize
    [...rect(0, 0, 640, 480, -308), 1, 0, 0, 0, ...bytes(16)], // ExtendedDesktopSize
    [...rect(0, 0, 0, 0, -307), ...be32(3), ...text("abc")], // DesktopName
    [...rect(0, 0, 0, 0, -258)], // QEMU extended key event
    [...rect(0, 0, 0, 0, -261), 6], // QEMU LED state
  ];
}

/** Which messages a policy drops. */
function dropper(policy: RfbPolicy) {
  const toServer = policy.clipboard === "both" || policy.clipboard === "to-server";
  const toClient = policy.clipboard === "both" || policy.clipboard === "to-client";
  return {
    viewOnly: policy.viewOnly,
    clientCut: policy.viewOnly || !toServer,
    serverCut: !toClient,
  };
}

/**
 * The session: handshake (version 3.8, the server offering None, VncAuth and
 * VeNCrypt; the viewer choosing None), then every message each way, as the
 * filter must forward it under `policy`.
 */
export function sampleSession(policy: RfbPolicy): SessionStep[] {
  const d = dropper(policy);
  const framed = policy.clipboard === "to-server" || policy.clipboard === "none";
  const steps: SessionStep[] = [];
  const add =
    (from: "server" | "client") =>
    (input: number[], dropped?: DropKind | false, expected?: number[]) =>
      steps.push({
        from,
        input,
        expected: dropped ? [] : expected ?? input,
        dropped: dropped || undefined,
      });
  const server = add("server");
  const client = add("client");
  server(text("RFB 003.008\n"));
  client(text("RFB 003.008\n"));
  server([3, 1, 2, 19], false, [2, 1, 2]); // VeNCrypt (19) is not offered to the viewer
  client([1]);
  server(be32(0));
  client([1]); // ClientInit, shared
  server([...be16(640), ...be16(480), ...PF32, ...be32(4), ...text("desk")]);
  client([0, 0, 0, 0, ...PF32]);
  const encodings = [16, 7, 99, -260, 21, 50, 0, 1, 2, 5, 6, -32 + 6, -256 + 2, -223, -224, -239];
  const pseudo = [-240, -258, -259, -261, -307, -308, -309, -312, -313, -316, 0x574d5664];
  const all = [...encodings, ...pseudo, 0xc0a1e5ce | 0, -1234];
  const kept = all.filter((e) =>
    e !== -316 && e !== (0xc0a1e5ce | 0) && (!framed || (e !== 99 && e !== -1234))
  );
  client(
    [2, 0, ...be16(all.length), ...all.flatMap(be32)],
    false,
    [2, 0, ...be16(kept.length), ...kept.flatMap(be32)],
  );
  client([3, 0, ...be16(0), ...be16(0), ...be16(640), ...be16(480)]);
  const rects = sampleRectangles();
  server([0, 0, ...be16(rects.length), ...rects.flat()]);
  server([0, 0, ...be16(0xffff), ...rects[0], ...rect(0, 0, 0, 0, -224)]); // ended by LastRect
  client([4, 1, 0, 0, ...be32(0x61)], d.viewOnly && "key");
  client([4, 0, 0, 0, ...be32(0x61)], d.viewOnly && "key");
  client([5, 1, ...be16(10), ...be16(20)], d.viewOnly && "pointer");
  client([255, 0, ...be16(1), ...be32(0x62), ...be32(48)], d.viewOnly && "key");
  client([6, 0, 0, 0, ...be32(5), ...text("hello")], d.clientCut && "client_cut_text");
  client(
    [6, 0, 0, 0, ...be32(-8), ...be32(1 << 24), ...bytes(4)],
    d.clientCut && "client_cut_text",
  );
  client(
    [251, 0, ...be16(800), ...be16(600), 1, 0, ...bytes(16)],
    d.viewOnly && "set_desktop_size",
  );
  client([250, 0, 1, 2], d.viewOnly && "xvp");
  client([150, 1, ...be16(0), ...be16(0), ...be16(640), ...be16(480)]);
  client([248, 0, 0, 0, ...be32(0x80000002), 3, 1, 2, 3]);
  client([255, 1, ...be16(2), 3, 2, ...be32(44100)]);
  client([255, 1, ...be16(0)]);
  client([3, 1, ...be16(0), ...be16(0), ...be16(640), ...be16(480)]);
  server([1, 0, ...be16(0), ...be16(2), ...bytes(12)]); // SetColourMapEntries
  server([2]); // Bell
  server([3, 0, 0, 0, ...be32(6), ...text("secret")], d.serverCut && "server_cut_text");
  server([3, 0, 0, 0, ...be32(-4), ...be32(1 << 24)], d.serverCut && "server_cut_text");
  server([150]);
  server([248, 0, 0, 0, ...be32(0x80000001), 2, 9, 9]);
  server([250, 0, 1, 1]);
  server([255, 1, ...be16(1)]); // QEMU audio begin
  server([255, 1, ...be16(2), ...be32(6), ...bytes(6)]); // QEMU audio data
  server([0, 0, ...be16(1), ...rects[3]]); // Hextile again, after them all
  return steps;
}

/** A target stream the test drives: reads come from what `feed` queued. */
class FedStream implements ByteStream {
  readonly peer = "test";
  readonly written: number[] = [];
  #queue: Uint8Array[] = [];
  /** Largest read the stream gives at once. */
  chunk = 1 << 20;

  feed(bytes: ArrayLike<number>): void {
    if (bytes.length > 0) this.#queue.push(Uint8Array.from(bytes));
  }
  read(buf: Uint8Array): Promise<number | null> {
    const head = this.#queue[0];
    if (head === undefined) return Promise.resolve(null);
    const n = Math.min(buf.length, this.chunk, head.length);
    buf.set(head.subarray(0, n));
    if (n === head.length) this.#queue.shift();
    else this.#queue[0] = head.subarray(n);
    return Promise.resolve(n);
  }
  writeAll(data: Uint8Array): Promise<void> {
    for (const b of data) this.written.push(b);
    return Promise.resolve();
  }
  closeWrite(): Promise<void> {
    return Promise.resolve();
  }
  close(): void {}
}

/** What a run of a session through the filter forwarded and dropped. */
export interface FilterRun {
  /** Bytes each step's sender's bytes turned into, by step. */
  outputs: number[][];
  /** Drops by kind. */
  dropped: Record<string, number>;
  /** The error a step ended with, if any (the rest of the steps were not run). */
  error?: unknown;
}

/**
 * Runs `steps` through a filter with `policy`: server bytes read in reads of
 * at most `readSize` bytes (taken from the target `serverChunk` at a time),
 * client bytes written `clientChunk` at a time.
 */
export async function runThroughFilter(
  steps: SessionStep[],
  policy: RfbPolicy,
  sizes: { readSize: number; serverChunk: number; clientChunk: number },
): Promise<FilterRun> {
  const inner = new FedStream();
  inner.chunk = sizes.serverChunk;
  const dropped: Record<string, number> = {};
  const filter = new RfbFilter(inner, policy, {
    onDrop: (kind) => dropped[kind] = (dropped[kind] ?? 0) + 1,
  });
  const outputs: number[][] = [];
  const buf = new Uint8Array(sizes.readSize);
  try {
    for (const step of steps) {
      const out: number[] = [];
      outputs.push(out);
      if (step.from === "server") {
        inner.feed(step.input);
        for (;;) {
          const n = await filter.read(buf);
          if (n === null) break;
          for (let i = 0; i < n; i++) out.push(buf[i]);
        }
      } else {
        const start = inner.written.length;
        for (let i = 0; i < step.input.length; i += sizes.clientChunk) {
          const end = Math.min(step.input.length, i + sizes.clientChunk);
          await filter.writeAll(Uint8Array.from({ length: end - i }, (_, j) => step.input[i + j]));
        }
        for (let i = start; i < inner.written.length; i++) out.push(inner.written[i]);
      }
    }
  } catch (e) {
    return { outputs, dropped, error: e };
  }
  return { outputs, dropped };
}

/** A recorded session's frames as steps (no expected output: what to check is up to the caller). */
export function recordedSteps(frames: { toClient: boolean; data: Uint8Array }[]): SessionStep[] {
  return frames.map((f) => ({
    from: f.toClient ? "server" : "client",
    input: f.data,
    expected: [],
  }));
}
