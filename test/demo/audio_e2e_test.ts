/**
 * `vncws --demo` as a viewer meets it, through the real vncws process: a
 * small raw RFB client (written here from rfbproto) asks for QEMU audio,
 * is told the server has it, enables it and receives a 440 Hz tone in the
 * format it set, then disables it and gets the end; a client that does not
 * ask is not told. The keys a viewer sends are logged (debug) by keysym.
 */
import assert from "node:assert/strict";
import { freePort, type Proc, readExactly, startVncws } from "../../scripts/testing/util.ts";
import { samples, zeroCrossings } from "./_audio.ts";

const be32 = (n: number) => [(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
const be16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];

/** A raw RFB 3.8 client with security None, after ServerInit. */
async function rfbClient(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  // vncws relays a silent client raw after --raw-wait; the server speaks first.
  assert.equal(new TextDecoder().decode(await readExactly(conn, 12)), "RFB 003.008\n");
  await conn.write(new TextEncoder().encode("RFB 003.008\n"));
  const types = await readExactly(conn, (await readExactly(conn, 1))[0]);
  assert.ok(types.includes(1), "security type None offered");
  await conn.write(new Uint8Array([1]));
  assert.deepEqual([...await readExactly(conn, 4)], [0, 0, 0, 0], "SecurityResult OK");
  await conn.write(new Uint8Array([1])); // ClientInit: shared
  const init = await readExactly(conn, 24);
  await readExactly(conn, new DataView(init.buffer).getUint32(20)); // the name
  return conn;
}

function setEncodings(encodings: number[]): Uint8Array {
  return new Uint8Array([2, 0, ...be16(encodings.length), ...encodings.flatMap(be32)]);
}

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

async function withDemo(fn: (port: number, vncws: Proc) => Promise<void>): Promise<void> {
  const port = freePort();
  const vncws = await startVncws(["-v", "--demo", "--raw-wait", "0.2", `127.0.0.1:${port}`]);
  try {
    await fn(port, vncws);
  } finally {
    await vncws.stop();
  }
}

Deno.test("e2e demo: a viewer that asks for QEMU audio is told, enables it and hears 440 Hz", async () => {
  await withDemo(async (port) => {
    const conn = await rfbClient(port);
    try {
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
    } finally {
      conn.close();
    }
  });
});

Deno.test("e2e demo: a viewer that does not list -259 is not told about audio", async () => {
  await withDemo(async (port) => {
    const conn = await rfbClient(port);
    try {
      await conn.write(setEncodings([0, -223]));
      await conn.write(new Uint8Array([3, 0, ...be16(0), ...be16(0), ...be16(4), ...be16(4)]));
      // The first answer is the update asked for: raw pixels, no audio rectangle before it.
      assert.deepEqual(await readServerMessage(conn), { type: "update", encodings: [0] });
    } finally {
      conn.close();
    }
  });
});

Deno.test("e2e demo: the keys a viewer sends are logged by keysym at debug", async () => {
  await withDemo(async (port, vncws) => {
    const conn = await rfbClient(port);
    try {
      assert.doesNotMatch(vncws.output(), /demo: key/);
      await conn.write(new Uint8Array([4, 1, 0, 0, ...be32(0x61)])); // "a" down
      await vncws.waitFor(/demo: key keysym=0x61 down=true/);
      await conn.write(new Uint8Array([4, 0, 0, 0, ...be32(0x61)])); // and up
      await vncws.waitFor(/demo: key keysym=0x61 down=false/);
    } finally {
      conn.close();
    }
  });
});
