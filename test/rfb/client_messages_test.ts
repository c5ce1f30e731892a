import assert from "node:assert/strict";
import {
  clientMessageHeaderLength,
  clientMessageLength,
  decodeClientMessage,
  readClientMessage,
} from "../../src/rfb/client_messages.ts";
import { RfbEndOfStream, RfbProtocolError, RfbReader } from "../../src/rfb/reader.ts";
import { ScriptedStream } from "./_scripted_stream.ts";

const be16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const be32 = (n: number) => [(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
const PF16 = [16, 16, 0, 1, ...be16(31), ...be16(63), ...be16(31), 11, 5, 0, 0, 0, 0];

/** One of each client message, as a viewer sends it. */
const MESSAGES: Array<[string, number[]]> = [
  ["SetPixelFormat", [0, 0, 0, 0, ...PF16]],
  ["SetEncodings", [2, 0, ...be16(2), ...be32(0), ...be32(-223)]],
  ["FramebufferUpdateRequest", [3, 1, ...be16(1), ...be16(2), ...be16(30), ...be16(40)]],
  ["KeyEvent", [4, 1, 0, 0, ...be32(0xff0d)]],
  ["PointerEvent", [5, 3, ...be16(10), ...be16(20)]],
  ["ClientCutText", [6, 0, 0, 0, ...be32(3), 0x68, 0x69, 0xe9]],
  ["ClientCutText", [6, 0, 0, 0, ...be32(-4), 0, 0, 0, 1]],
  ["EnableContinuousUpdates", [150, 1, ...be16(0), ...be16(0), ...be16(8), ...be16(8)]],
  ["ClientFence", [248, 0, 0, 0, ...be32(0x80000001), 2, 7, 8]],
  ["SetDesktopSize", [251, 0, ...be16(1024), ...be16(768), 1, 0, ...new Array(16).fill(0)]],
  ["QemuExtendedKeyEvent", [255, 0, ...be16(1), ...be32(0x61), ...be32(30)]],
  ["Xvp", [250, 0, 1, 4]],
  ["QemuAudio", [255, 1, ...be16(0)]],
  ["QemuAudio", [255, 1, ...be16(1)]],
  ["QemuAudio", [255, 1, ...be16(2), 3, 2, ...be32(44100)]],
];

Deno.test("client messages: the framing gives each message's whole length from its header", () => {
  for (const [kind, bytes] of MESSAGES) {
    const need = clientMessageHeaderLength(bytes[0])!;
    assert.ok(need <= bytes.length, kind);
    assert.equal(clientMessageLength(new Uint8Array(bytes.slice(0, need))), bytes.length, kind);
    assert.equal(decodeClientMessage(new Uint8Array(bytes)).kind, kind);
  }
  assert.equal(clientMessageHeaderLength(77), undefined);
});

Deno.test("client messages: fields decode", () => {
  const d = (i: number) => decodeClientMessage(new Uint8Array(MESSAGES[i][1]));
  assert.deepEqual(d(0), {
    kind: "SetPixelFormat",
    pixelFormat: {
      bitsPerPixel: 16,
      depth: 16,
      bigEndian: false,
      trueColour: true,
      redMax: 31,
      greenMax: 63,
      blueMax: 31,
      redShift: 11,
      greenShift: 5,
      blueShift: 0,
    },
  });
  assert.deepEqual(d(1), { kind: "SetEncodings", encodings: [0, -223] });
  assert.deepEqual(d(2), {
    kind: "FramebufferUpdateRequest",
    incremental: true,
    rect: { x: 1, y: 2, w: 30, h: 40 },
  });
  assert.deepEqual(d(3), { kind: "KeyEvent", down: true, keysym: 0xff0d });
  assert.deepEqual(d(4), { kind: "PointerEvent", buttons: 3, x: 10, y: 20 });
  assert.deepEqual(d(5), {
    kind: "ClientCutText",
    text: new Uint8Array([0x68, 0x69, 0xe9]),
    extended: false,
  });
  assert.deepEqual(d(6), {
    kind: "ClientCutText",
    text: new Uint8Array([0, 0, 0, 1]),
    extended: true,
  });
  assert.deepEqual(d(8), {
    kind: "ClientFence",
    flags: 0x80000001,
    payload: new Uint8Array([7, 8]),
  });
  assert.deepEqual(d(9), { kind: "SetDesktopSize", width: 1024, height: 768, screens: 1 });
  assert.deepEqual(d(10), { kind: "QemuExtendedKeyEvent", down: true, keysym: 0x61, keycode: 30 });
  assert.deepEqual(d(11), { kind: "Xvp", version: 1, code: 4 });
  assert.deepEqual(d(12), { kind: "QemuAudio", operation: 0 });
  assert.deepEqual(d(13), { kind: "QemuAudio", operation: 1 });
  assert.deepEqual(d(14), {
    kind: "QemuAudio",
    operation: 2,
    sampleFormat: 3,
    channels: 2,
    frequency: 44100,
  });
});

Deno.test("client messages: a QEMU audio operation other than enable, disable, set-format is refused", () => {
  assert.throws(
    () => clientMessageLength(new Uint8Array([255, 1, ...be16(3)])),
    (e) => e instanceof RfbProtocolError && /unknown QEMU audio operation 3/.test(e.message),
  );
  assert.throws(
    () => clientMessageLength(new Uint8Array([255, 2, ...be16(0)])),
    (e) => e instanceof RfbProtocolError && /unknown QEMU client message subtype 2/.test(e.message),
  );
});

Deno.test("readClientMessage: every message whole, from one-byte reads", async () => {
  const all = MESSAGES.flatMap(([, b]) => b);
  const reader = new RfbReader(new ScriptedStream(all, 1), 8);
  for (const [kind, bytes] of MESSAGES) {
    assert.deepEqual([...await readClientMessage(reader)], bytes, kind);
  }
  await assert.rejects(readClientMessage(reader), RfbEndOfStream);
});

Deno.test("readClientMessage: unknown type, unknown QEMU subtype, over-long clipboard, short message", async () => {
  const read = (bytes: number[], maxCutText?: number) =>
    readClientMessage(new RfbReader(new ScriptedStream(bytes)), { maxCutText });
  await assert.rejects(
    read([77, 0, 0, 0]),
    (e) => e instanceof RfbProtocolError && /unknown RFB client message type 77/.test(e.message),
  );
  await assert.rejects(
    read([255, 9, 0, 0]),
    (e) => e instanceof RfbProtocolError && /QEMU client message subtype 9/.test(e.message),
  );
  await assert.rejects(
    read([6, 0, 0, 0, ...be32(11), ...new Array(11).fill(0x61)], 10),
    (e) => e instanceof RfbProtocolError && /11 bytes exceeds 10 bytes/.test(e.message),
  );
  // The extended form's negative length counts too.
  await assert.rejects(read([6, 0, 0, 0, ...be32(-11)], 10), RfbProtocolError);
  assert.equal((await read([6, 0, 0, 0, ...be32(10), ...new Array(10).fill(0x61)], 10)).length, 18);
  // Ends inside the header, and inside the body.
  await assert.rejects(read([3, 0, 0]), RfbEndOfStream);
  await assert.rejects(read([2, 0, 0, 2, 0, 0, 0, 0]), RfbEndOfStream);
});

Deno.test("decodeClientMessage: a message shorter than its framing is refused", () => {
  assert.throws(() => decodeClientMessage(new Uint8Array([2, 0, 0, 1])), RangeError);
  assert.throws(() => decodeClientMessage(new Uint8Array([4, 1])), RangeError);
  assert.throws(() => decodeClientMessage(new Uint8Array([77])), RfbProtocolError);
});
