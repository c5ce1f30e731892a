import assert from "node:assert/strict";
import { RfbProtocolError } from "../../src/rfb/reader.ts";
import { ByteScanner } from "../../src/rfb/scanner.ts";
import {
  isFramableEncoding,
  ServerMessageFramer,
  tightPixelBytes,
} from "../../src/rfb/server_messages.ts";
import type { PixelFormat } from "../../src/rfb/pixel_format.ts";
import { SERVER_PIXEL_FORMAT } from "../../src/demo/pixel_format.ts";
import { sampleRectangles } from "../../scripts/testing/rfb_session.ts";

const be16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const be32 = (n: number) => [(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];

/** 32 bits per pixel, depth 24, true colour 8/8/8 (what noVNC asks for). */
const PF32: PixelFormat = SERVER_PIXEL_FORMAT;

/** Frames `bytes` as server messages in chunks of `size`; the bytes forwarded and drops. */
function frame(bytes: number[], size: number, pf = PF32): { out: number[]; drops: number } {
  const scanner = new ByteScanner();
  let drops = 0;
  new ServerMessageFramer(scanner, {
    pixelFormat: () => pf,
    dropCutText: true,
    onDrop: () => drops++,
  }).start();
  const out: number[] = [];
  const input = Uint8Array.from(bytes);
  for (let i = 0; i < input.length; i += size) {
    for (const part of scanner.push(input.subarray(i, i + size))) out.push(...part);
  }
  return { out, drops };
}

const CUT = [3, 0, 0, 0, ...be32(3), 0x61, 0x62, 0x63];
const BELL = [2];

Deno.test("server messages: each encoding's rectangle is framed to its last byte, in any split", () => {
  // A ServerCutText right after the update is found (and dropped) only if the update's
  // length was exactly right.
  const encodings = sampleRectangles().map((r) =>
    (r[8] << 24) | (r[9] << 16) | (r[10] << 8) | r[11]
  );
  sampleRectangles().forEach((rect, i) => {
    const update = [0, 0, ...be16(1), ...rect];
    for (const size of [1, 2, 3, 5, 13, 4096]) {
      const { out, drops } = frame([...update, ...CUT, ...BELL], size);
      assert.equal(drops, 1, `encoding ${encodings[i]}, chunks of ${size}`);
      assert.deepEqual(out, [...update, ...BELL], `encoding ${encodings[i]}, chunks of ${size}`);
    }
  });
});

Deno.test("server messages: every other message type, then a ServerCutText still found", () => {
  const messages = [
    [1, 0, ...be16(3), ...be16(2), ...new Array(12).fill(7)], // SetColourMapEntries
    [2], // Bell
    [150], // EndOfContinuousUpdates
    [248, 0, 0, 0, ...be32(1), 3, 1, 2, 3], // ServerFence
    [250, 0, 1, 1], // xvp
    [255, 1, ...be16(0)], // QEMU audio end
    [255, 1, ...be16(2), ...be32(5), 1, 2, 3, 4, 5], // QEMU audio data
    [3, 0, 0, 0, ...be32(-8), ...be32(1), 0, 0, 0, 0], // extended clipboard: dropped as well
  ];
  for (const m of messages) {
    const { out, drops } = frame([...m, ...CUT], 1);
    const extended = m[0] === 3;
    assert.deepEqual(out, extended ? [] : m, `type ${m[0]}`);
    assert.equal(drops, extended ? 2 : 1, `type ${m[0]}`);
  }
});

Deno.test("server messages: a LastRect ends an update of 0xFFFF rectangles", () => {
  const rect = sampleRectangles()[0];
  const update = [0, 0, 0xff, 0xff, ...rect, ...rect, 0, 0, 0, 0, 0, 0, 0, 0, ...be32(-224)];
  assert.deepEqual(frame([...update, ...CUT, ...BELL], 7).out, [...update, ...BELL]);
});

Deno.test("server messages: what cannot be framed is an RfbProtocolError naming it", () => {
  const refused = (bytes: number[], pattern: RegExp) =>
    assert.throws(
      () => frame(bytes, 1),
      (e) => e instanceof RfbProtocolError && pattern.test(e.message),
    );
  refused(
    [0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, ...be32(-1000)],
    /encoding -1000, which vncws cannot frame/,
  );
  refused([7], /server message of unknown type 7/);
  refused([255, 9, 0, 0], /QEMU server message subtype 9/);
  refused([0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, ...be32(7), 0xb0], /Tight compression control 176/);
  refused([0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, ...be32(7), 0x40, 3], /Tight filter 3/);
  refused(
    [0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, ...be32(21), 0x12, 0x34],
    /JPEG rectangle without a marker/,
  );
});

Deno.test("server messages: pixel sizes follow the pixel format (Tight's TPIXEL, 16 bits)", () => {
  assert.equal(tightPixelBytes(PF32), 3);
  assert.equal(tightPixelBytes({ ...PF32, depth: 32 }), 4);
  const pf16: PixelFormat = {
    ...PF32,
    bitsPerPixel: 16,
    depth: 16,
    redMax: 31,
    greenMax: 63,
    blueMax: 31,
  };
  assert.equal(tightPixelBytes(pf16), 2);
  // A 2×2 Raw rectangle is 8 bytes at 16 bits per pixel.
  const update = [0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0, 2, ...be32(0), ...new Array(8).fill(9)];
  assert.deepEqual(frame([...update, ...CUT], 3, pf16).out, update);
});

Deno.test("server messages: the framable encodings are the ones framed, and only them", () => {
  for (const e of [0, 1, 2, 5, 6, 7, 16, 21, 50, -260, -223, -224, -239, -240, -258, -259, -261]) {
    assert.ok(isFramableEncoding(e), String(e));
  }
  for (
    const e of [-307, -308, -309, -312, -313, 0x574d5664, 0xc0a1e5ce | 0, -23, -32, -247, -256]
  ) {
    assert.ok(isFramableEncoding(e), String(e));
  }
  for (const e of [-316, -305, 15, 99, -33, -257, -1000]) {
    assert.ok(!isFramableEncoding(e), String(e));
  }
});
