/**
 * `vncws --demo` as a viewer meets it, through the real vncws process: a
 * small raw RFB client (test/demo/_rfb_client.ts) asks for QEMU audio,
 * is told the server has it, enables it and receives a 440 Hz tone in the
 * format it set, then disables it and gets the end; a client that does not
 * ask is not told. The keys a viewer sends are logged (debug) by keysym.
 */
import assert from "node:assert/strict";
import { readExactly } from "../../scripts/testing/util.ts";
import { be16, be32, setEncodings, withDemoClient } from "./_rfb_client.ts";
import { samples, zeroCrossings } from "./_audio.ts";

/** One server message: a FramebufferUpdate's rectangle headers, or a QEMU audio message. */
async function readServerMessage(
  conn: Deno.Conn,
): Promise<
  { type: "update"; encodings: number[] } | { type: "audio"; op: number; data?: Uint8Array }
> {
  const type = (await readExactly(conn, 1))[0];
  if (type === 0) {
    const head = await readExactly(conn, 3);
    const count = new DataView(head.buffer).getUint16(1);
    const encodings: number[] = [];
    for (let i = 0; i < count; i++) {
      const rect = new DataView((await readExactly(conn, 12)).buffer);
      encodings.push(rect.getInt32(8));
      // Raw rectangles at the server's 32 bpp format (this client never sets another).
      if (rect.getInt32(8) === 0) {
        await readExactly(conn, rect.getUint16(4) * rect.getUint16(6) * 4);
      }
    }
    return { type: "update", encodings };
  }
  assert.equal(type, 255, `server message type ${type}`);
  const head = await readExactly(conn, 3);
  assert.equal(head[0], 1, "QEMU submessage: audio");
  const op = new DataView(head.buffer).getUint16(1);
  if (op !== 2) return { type: "audio", op };
  const length = new DataView((await readExactly(conn, 4)).buffer).getUint32(0);
  const data = await readExactly(conn, length);
  // As a whole message, so the test helpers read its samples after the 8-byte header.
  const msg = new Uint8Array(8 + length);
  msg.set(data, 8);
  return { type: "audio", op, data: msg };
}

Deno.test("e2e demo: a viewer that asks for QEMU audio is told, enables it and hears 440 Hz", async () => {
  await withDemoClient(async (conn) => {
    await conn.write(setEncodings([0, -259]));
    assert.deepEqual(await readServerMessage(conn), { type: "update", encodings: [-259] });
    const format = { sampleFormat: 3, channels: 1, frequency: 8000 }; // S16 mono
    await conn.write(new Uint8Array([255, 1, ...be16(2), 3, 1, ...be32(8000)]));
    await conn.write(new Uint8Array([255, 1, ...be16(0)])); // enable
    assert.deepEqual(await readServerMessage(conn), { type: "audio", op: 1 }, "begin");
    const tone: number[] = [];
    while (tone.length < 4000) {
      const m = await readServerMessage(conn);
      assert.equal(m.type === "audio" && m.op, 2, "data");
      if (m.type === "audio" && m.data) tone.push(...samples(m.data, format));
    }
    // Half a second of samples at 8 kHz: 440 crossings (two a cycle), the chunks joined.
    const crossings = zeroCrossings(tone.slice(0, 4000));
    assert.ok(Math.abs(crossings - 440) <= 3, `${crossings} zero crossings`);
    await conn.write(new Uint8Array([255, 1, ...be16(1)])); // disable
    for (;;) {
      const m = await readServerMessage(conn);
      assert.equal(m.type, "audio");
      if (m.type === "audio" && m.op === 0) break; // the end, after the chunks under way
    }
  });
});

Deno.test("e2e demo: a viewer that does not list -259 is not told about audio", async () => {
  await withDemoClient(async (conn) => {
    await conn.write(setEncodings([0, -223]));
    await conn.write(new Uint8Array([3, 0, ...be16(0), ...be16(0), ...be16(4), ...be16(4)]));
    // The first answer is the update asked for: raw pixels, no audio rectangle before it.
    assert.deepEqual(await readServerMessage(conn), { type: "update", encodings: [0] });
  });
});

Deno.test("e2e demo: the keys a viewer sends are logged by keysym at debug", async () => {
  await withDemoClient(async (conn, vncws) => {
    assert.doesNotMatch(vncws.output(), /demo: key/);
    await conn.write(new Uint8Array([4, 1, 0, 0, ...be32(0x61)])); // "a" down
    await vncws.waitFor(/demo: key keysym=0x61 down=true/);
    await conn.write(new Uint8Array([4, 0, 0, 0, ...be32(0x61)])); // and up
    await vncws.waitFor(/demo: key keysym=0x61 down=false/);
  });
});
