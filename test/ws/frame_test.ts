import assert from "node:assert/strict";
import {
  closePayload,
  encodeFrame,
  FrameDecoder,
  type FrameEvent,
  headerLength,
  maskInPlace,
  Opcode,
  validCloseCode,
  writeHeaderBefore,
  WsProtocolError,
} from "../../src/ws/frame.ts";

const MASK = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);

function payload(n: number): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 31 + 7) & 0xff;
  return p;
}

/** Decodes `bytes` fed in pieces of `step` bytes; data payloads are concatenated per message. */
function decodeAll(bytes: Uint8Array, step: number, expectMasked = true, max = 0) {
  const d = new FrameDecoder({ expectMasked, maxMessageBytes: max });
  const events: Array<FrameEvent | { kind: "message"; opcode: number; data: Uint8Array }> = [];
  let parts: Uint8Array[] = [];
  const copy = bytes.slice();
  for (let off = 0; off < copy.length; off += step) {
    d.push(copy.subarray(off, Math.min(copy.length, off + step)));
    for (let ev = d.next(); ev; ev = d.next()) {
      if (ev.kind === "data") {
        parts.push(ev.bytes.slice());
        if (ev.fin) {
          const total = parts.reduce((a, p) => a + p.length, 0);
          const data = new Uint8Array(total);
          let o = 0;
          for (const p of parts) {
            data.set(p, o);
            o += p.length;
          }
          events.push({ kind: "message", opcode: ev.opcode, data });
          parts = [];
        }
      } else events.push({ ...ev });
    }
  }
  return events;
}

Deno.test("header length boundaries: 0, 125, 126, 65535, 65536, 2^32+", () => {
  assert.equal(headerLength(0), 2);
  assert.equal(headerLength(125), 2);
  assert.equal(headerLength(126), 4);
  assert.equal(headerLength(65535), 4);
  assert.equal(headerLength(65536), 10);
  assert.equal(headerLength(2 ** 32 + 5), 10);
});

Deno.test("64-bit length header encodes 2^32+ and the decoder reads it back", () => {
  const len = 2 ** 32 + 5;
  const buf = new Uint8Array(14);
  const start = writeHeaderBefore(buf, 14, Opcode.Binary, len, { mask: MASK });
  assert.equal(start, 0);
  assert.deepEqual([...buf.subarray(0, 10)], [0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 5]);
  // The decoder accepts the header and reports the first payload bytes as they come.
  const d = new FrameDecoder({ expectMasked: true });
  const chunk = new Uint8Array(14 + 100);
  chunk.set(buf);
  d.push(chunk);
  const ev = d.next();
  assert.ok(ev && ev.kind === "data");
  assert.equal(ev.bytes.length, 100);
  assert.equal(ev.fin, false);
});

for (const n of [0, 1, 125, 126, 127, 65535, 65536, 100_000]) {
  Deno.test(`round trip of a masked ${n}-byte binary frame, fed whole and byte by byte`, () => {
    const p = payload(n);
    const frame = encodeFrame(Opcode.Binary, p, { mask: MASK });
    assert.equal(frame.length, headerLength(n) + 4 + n);
    for (const step of n <= 300 ? [1, 3, frame.length] : [7, 4096, frame.length]) {
      const evs = decodeAll(frame, step);
      assert.equal(evs.length, 1);
      const m = evs[0] as { kind: string; opcode: number; data: Uint8Array };
      assert.equal(m.kind, "message");
      assert.equal(m.opcode, Opcode.Binary);
      assert.deepEqual(m.data, p);
    }
  });
}

Deno.test("unmasked server frames decode on the client side", () => {
  const p = payload(70000);
  const evs = decodeAll(encodeFrame(Opcode.Binary, p), 1000, false);
  assert.deepEqual((evs[0] as { data: Uint8Array }).data, p);
});

Deno.test("split at every byte boundary of two frames", () => {
  const a = encodeFrame(Opcode.Binary, payload(130), { mask: MASK });
  const b = encodeFrame(Opcode.Text, new TextEncoder().encode("héllo"), { mask: MASK });
  const both = new Uint8Array(a.length + b.length);
  both.set(a);
  both.set(b, a.length);
  for (let cut = 1; cut < both.length; cut++) {
    const d = new FrameDecoder({ expectMasked: true });
    const copy = both.slice();
    const out: number[] = [];
    for (const piece of [copy.subarray(0, cut), copy.subarray(cut)]) {
      d.push(piece);
      for (let ev = d.next(); ev; ev = d.next()) if (ev.kind === "data") out.push(...ev.bytes);
    }
    assert.equal(out.length, 130 + 6, `cut at ${cut}`);
  }
});

Deno.test("fragmented message with a ping in the middle", () => {
  const f1 = encodeFrame(Opcode.Text, new TextEncoder().encode("ab"), { fin: false, mask: MASK });
  const ping = encodeFrame(Opcode.Ping, new TextEncoder().encode("p"), { mask: MASK });
  const f2 = encodeFrame(Opcode.Continuation, new TextEncoder().encode("cd"), { mask: MASK });
  const all = new Uint8Array([...f1, ...ping, ...f2]);
  const evs = decodeAll(all, 2);
  assert.equal(evs[0].kind, "ping");
  assert.equal(new TextDecoder().decode((evs[1] as { data: Uint8Array }).data), "abcd");
  assert.equal((evs[1] as { opcode: number }).opcode, Opcode.Text);
});

Deno.test("close frame: code and reason decoded; empty close is 1005", () => {
  const c = encodeFrame(Opcode.Close, closePayload(1000, "bye"), { mask: MASK });
  assert.deepEqual(decodeAll(c, 100), [{ kind: "close", code: 1000, reason: "bye" }]);
  const e = encodeFrame(Opcode.Close, new Uint8Array(0), { mask: MASK });
  assert.deepEqual(decodeAll(e, 100), [{ kind: "close", code: 1005, reason: "" }]);
});

function protocolError(bytes: Uint8Array, expectMasked = true, max = 0): WsProtocolError {
  try {
    decodeAll(bytes, bytes.length, expectMasked, max);
  } catch (e) {
    if (e instanceof WsProtocolError) return e;
    throw e;
  }
  throw new Error("no protocol error");
}

Deno.test("protocol errors map to the right close codes", () => {
  const p = payload(10);
  assert.equal(protocolError(encodeFrame(Opcode.Binary, p)).code, 1002); // unmasked client frame
  assert.equal(protocolError(encodeFrame(Opcode.Binary, p, { mask: MASK }), false).code, 1002); // masked server frame
  const rsv = encodeFrame(Opcode.Binary, p, { mask: MASK });
  rsv[0] |= 0x40;
  assert.equal(protocolError(rsv).code, 1002);
  assert.equal(protocolError(encodeFrame(0x3, p, { mask: MASK })).code, 1002); // reserved opcode
  assert.equal(protocolError(encodeFrame(0xb, p, { mask: MASK })).code, 1002); // reserved control opcode
  assert.equal(protocolError(encodeFrame(Opcode.Ping, p, { fin: false, mask: MASK })).code, 1002);
  assert.equal(protocolError(encodeFrame(Opcode.Ping, payload(126), { mask: MASK })).code, 1002);
  assert.equal(protocolError(encodeFrame(Opcode.Continuation, p, { mask: MASK })).code, 1002);
  const twoStarts = new Uint8Array([
    ...encodeFrame(Opcode.Binary, p, { fin: false, mask: MASK }),
    ...encodeFrame(Opcode.Binary, p, { mask: MASK }),
  ]);
  assert.equal(protocolError(twoStarts).code, 1002);
  assert.equal(
    protocolError(encodeFrame(Opcode.Close, new Uint8Array([3]), { mask: MASK })).code,
    1002,
  );
  assert.equal(
    protocolError(encodeFrame(Opcode.Close, closePayload(1005), { mask: MASK })).code,
    1002,
  );
  assert.equal(
    protocolError(encodeFrame(Opcode.Close, closePayload(999), { mask: MASK })).code,
    1002,
  );
  const badUtf8 = new Uint8Array([0x03, 0xe8, 0xff, 0xfe]);
  assert.equal(protocolError(encodeFrame(Opcode.Close, badUtf8, { mask: MASK })).code, 1007);
  const top = new Uint8Array(14);
  top.set([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1]);
  assert.equal(protocolError(top).code, 1002);
  assert.equal(
    protocolError(encodeFrame(Opcode.Binary, payload(2000), { mask: MASK }), true, 1000).code,
    1009,
  );
  const frag = new Uint8Array([
    ...encodeFrame(Opcode.Binary, payload(600), { fin: false, mask: MASK }),
    ...encodeFrame(Opcode.Continuation, payload(600), { mask: MASK }),
  ]);
  assert.equal(protocolError(frag, true, 1000).code, 1009);
});

Deno.test("maskInPlace is its own inverse at every alignment and mask position", () => {
  const base = payload(1031);
  for (let off = 0; off < 4; off++) {
    for (let pos = 0; pos < 4; pos++) {
      const buf = new Uint8Array(1040);
      const view = buf.subarray(off, off + base.length);
      view.set(base);
      maskInPlace(view, MASK, pos);
      for (let i = 0; i < 20; i++) assert.equal(view[i], base[i] ^ MASK[(pos + i) & 3]);
      assert.equal(view[1000], base[1000] ^ MASK[(pos + 1000) & 3]);
      maskInPlace(view, MASK, pos);
      assert.deepEqual(view, base);
    }
  }
});

Deno.test("valid close codes", () => {
  for (const c of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 3000, 4999]) {
    assert.ok(validCloseCode(c), `${c}`);
  }
  for (const c of [0, 999, 1004, 1005, 1006, 1015, 2000, 5000]) {
    assert.ok(!validCloseCode(c), `${c}`);
  }
});
