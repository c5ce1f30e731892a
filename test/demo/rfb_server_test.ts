import { DemoDesktop, startDemoServer } from "../../src/demo/rfb_server.ts";
import { BAR_COLOURS } from "../../src/demo/desktop.ts";
import { readExactly } from "../../scripts/testing/util.ts";
import { raceTimeout, STOPPED, TIMEOUT } from "../../src/base/time.ts";
import { listenerFailingOnce } from "../base/_failing_listener.ts";

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}
function assertEquals<T>(actual: T, expected: T, msg = "") {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${msg} expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
  encoding: number;
  pixels: Uint8Array;
}

/** A minimal RFB client, written from RFC 6143 for these tests. */
class Client {
  constructor(readonly conn: Deno.Conn) {}

  static async connect(port: number, version = "RFB 003.008\n") {
    const c = new Client(await Deno.connect({ hostname: "127.0.0.1", port }));
    const hello = dec.decode(await readExactly(c.conn, 12));
    assertEquals(hello, "RFB 003.008\n", "server version");
    await c.conn.write(enc.encode(version));
    if (version === "RFB 003.003\n") {
      const t = new DataView((await readExactly(c.conn, 4)).buffer).getUint32(0);
      assertEquals(t, 1, "3.3 security type");
    } else {
      const n = (await readExactly(c.conn, 1))[0];
      const types = [...await readExactly(c.conn, n)];
      assertEquals(types, [1], "security types");
      await c.conn.write(new Uint8Array([1]));
      if (version === "RFB 003.008\n") {
        const res = new DataView((await readExactly(c.conn, 4)).buffer).getUint32(0);
        assertEquals(res, 0, "SecurityResult");
      }
    }
    await c.conn.write(new Uint8Array([1])); // shared
    const init = await readExactly(c.conn, 24);
    const v = new DataView(init.buffer);
    const nameLen = v.getUint32(20);
    const name = dec.decode(await readExactly(c.conn, nameLen));
    return {
      client: c,
      width: v.getUint16(0),
      height: v.getUint16(2),
      bpp: init[4],
      bigEndian: init[6],
      trueColour: init[7],
      shifts: [init[14], init[15], init[16]],
      name,
    };
  }

  async request(incremental: boolean, x: number, y: number, w: number, h: number) {
    const b = new Uint8Array(10);
    const v = new DataView(b.buffer);
    v.setUint8(0, 3);
    v.setUint8(1, incremental ? 1 : 0);
    v.setUint16(2, x);
    v.setUint16(4, y);
    v.setUint16(6, w);
    v.setUint16(8, h);
    await this.conn.write(b);
  }

  async key(keysym: number, down: boolean) {
    const b = new Uint8Array(8);
    const v = new DataView(b.buffer);
    v.setUint8(0, 4);
    v.setUint8(1, down ? 1 : 0);
    v.setUint32(4, keysym);
    await this.conn.write(b);
  }

  async setPixelFormat(bpp: number, bigEndian: boolean, max: number[], shifts: number[]) {
    const b = new Uint8Array(20);
    const v = new DataView(b.buffer);
    v.setUint8(0, 0);
    v.setUint8(4, bpp);
    v.setUint8(5, bpp === 16 ? 16 : 24);
    v.setUint8(6, bigEndian ? 1 : 0);
    v.setUint8(7, 1);
    v.setUint16(8, max[0]);
    v.setUint16(10, max[1]);
    v.setUint16(12, max[2]);
    v.setUint8(14, shifts[0]);
    v.setUint8(15, shifts[1]);
    v.setUint8(16, shifts[2]);
    await this.conn.write(b);
  }

  async setEncodings(encodings: number[]) {
    const b = new Uint8Array(4 + 4 * encodings.length);
    const v = new DataView(b.buffer);
    v.setUint8(0, 2);
    v.setUint16(2, encodings.length);
    encodings.forEach((e, i) => v.setInt32(4 + 4 * i, e));
    await this.conn.write(b);
  }

  /** Reads one FramebufferUpdate with raw rectangles. */
  async update(bytesPerPixel: number): Promise<Rect[]> {
    const head = await readExactly(this.conn, 4);
    assertEquals(head[0], 0, "message type FramebufferUpdate");
    const n = new DataView(head.buffer).getUint16(2);
    const rects: Rect[] = [];
    for (let i = 0; i < n; i++) {
      const rh = new DataView((await readExactly(this.conn, 12)).buffer);
      const r = {
        x: rh.getUint16(0),
        y: rh.getUint16(2),
        w: rh.getUint16(4),
        h: rh.getUint16(6),
        encoding: rh.getInt32(8),
      };
      assertEquals(r.encoding, 0, "raw encoding");
      rects.push({ ...r, pixels: await readExactly(this.conn, r.w * r.h * bytesPerPixel) });
    }
    return rects;
  }

  close() {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

Deno.test("demo server: 3.8 handshake, ServerInit and a full raw update of the test pattern", async () => {
  const server = await startDemoServer({});
  try {
    const s = await Client.connect(server.addr.port);
    try {
      assertEquals([s.width, s.height], [800, 600], "size");
      assertEquals(s.name, "vncws demo", "name");
      assertEquals([s.bpp, s.bigEndian, s.trueColour], [32, 0, 1], "pixel format");
      await s.client.setEncodings([0, 1, -223]);
      await s.client.request(false, 0, 0, 800, 600);
      const [r] = await s.client.update(4);
      assertEquals([r.x, r.y, r.w, r.h], [0, 0, 800, 600], "rect");
      assertEquals(r.pixels.length, 800 * 600 * 4, "raw pixel bytes");
      // Default format: little endian 0x00RRGGBB, so bytes are B, G, R, 0.
      const px = (x: number, y: number) => {
        const o = (y * 800 + x) * 4;
        return (r.pixels[o + 2] << 16) | (r.pixels[o + 1] << 8) | r.pixels[o];
      };
      for (let i = 0; i < BAR_COLOURS.length; i++) {
        assertEquals(px(i * 100 + 50, 20), BAR_COLOURS[i], `bar ${i}`);
      }
    } finally {
      s.client.close();
    }
  } finally {
    await server.close();
  }
});

Deno.test("demo server: a key press shows up in the next incremental update", async () => {
  const server = await startDemoServer({});
  try {
    const s = await Client.connect(server.addr.port);
    try {
      await s.client.request(false, 0, 0, s.width, s.height);
      const [full] = await s.client.update(4);
      const box = server.desktop.layout.key;
      const before = full.pixels.slice(
        ((box.y + 1) * s.width + box.x + 1) * 4,
        ((box.y + 1) * s.width + box.x + 2) * 4,
      );
      await s.client.key(0x61, true);
      await s.client.key(0x61, false);
      // The clock may tick in between: read updates until one covers the key box.
      for (let i = 0; i < 5; i++) {
        await s.client.request(true, 0, 0, s.width, s.height);
        const rects = await s.client.update(4);
        const hit = rects.find((r) =>
          r.x <= box.x + 1 && r.y <= box.y + 1 && r.x + r.w > box.x + 1 && r.y + r.h > box.y + 1
        );
        if (!hit) continue;
        assert(
          hit.w * hit.h < s.width * s.height,
          "incremental update sends only the changed part",
        );
        const o = ((box.y + 1 - hit.y) * hit.w + (box.x + 1 - hit.x)) * 4;
        const after = hit.pixels.slice(o, o + 4);
        assert(
          after.join() !== before.join(),
          `key box colour did not change: ${before} -> ${after}`,
        );
        return;
      }
      throw new Error("no update covered the key box after a key press");
    } finally {
      s.client.close();
    }
  } finally {
    await server.close();
  }
});

Deno.test("demo server: SetPixelFormat 16bpp little and big endian (RGB565)", async () => {
  const server = await startDemoServer({ width: 64, height: 48 });
  try {
    for (const bigEndian of [false, true]) {
      const s = await Client.connect(server.addr.port);
      try {
        assertEquals([s.width, s.height], [64, 48], "size");
        await s.client.setPixelFormat(16, bigEndian, [31, 63, 31], [11, 5, 0]);
        await s.client.request(false, 0, 0, 64, 48);
        const [r] = await s.client.update(2);
        assertEquals(r.pixels.length, 64 * 48 * 2, "16bpp raw bytes");
        const v = new DataView(r.pixels.buffer);
        // Bars are 8 px wide at width 64: second bar is yellow, sixth red.
        assertEquals(
          v.getUint16(2 * (8 + 4), !bigEndian),
          0xffe0,
          `yellow (bigEndian=${bigEndian})`,
        );
        assertEquals(v.getUint16(2 * (40 + 4), !bigEndian), 0xf800, `red (bigEndian=${bigEndian})`);
      } finally {
        s.client.close();
      }
    }
  } finally {
    await server.close();
  }
});

Deno.test("demo server: RFB 3.3 and 3.7 clients are served", async () => {
  const server = await startDemoServer({ width: 32, height: 32 });
  try {
    for (const version of ["RFB 003.003\n", "RFB 003.007\n"]) {
      const s = await Client.connect(server.addr.port, version);
      try {
        assertEquals([s.width, s.height, s.bpp], [32, 32, 32], version);
        await s.client.request(false, 0, 0, 32, 32);
        const [r] = await s.client.update(4);
        assertEquals(r.pixels.length, 32 * 32 * 4, version);
      } finally {
        s.client.close();
      }
    }
  } finally {
    await server.close();
  }
});

Deno.test("demo server: an incremental request waits for a change, then gets only that", async () => {
  const server = await startDemoServer({});
  try {
    const s = await Client.connect(server.addr.port);
    try {
      await s.client.request(false, 0, 0, s.width, s.height);
      await s.client.update(4);
      await s.client.request(true, 0, 0, s.width, s.height);
      // Within about a second the clock and ticker change; nothing else does.
      const rects = await s.client.update(4);
      const area = rects.reduce((n, r) => n + r.w * r.h, 0);
      assert(rects.length > 0, "update has rectangles");
      assert(area < s.width * s.height / 4, `incremental update too large: ${area} pixels`);
      const bars = server.desktop.layout.bars;
      assert(rects.every((r) => r.y >= bars.y + bars.h), "colour bars were not resent");
    } finally {
      s.client.close();
    }
  } finally {
    await server.close();
  }
});

Deno.test("demo server: noVNC's format (32bpp, red in the low byte) and 8bpp BGR233", async () => {
  const server = await startDemoServer({ width: 64, height: 48 });
  try {
    const s = await Client.connect(server.addr.port);
    try {
      await s.client.setPixelFormat(32, false, [255, 255, 255], [0, 8, 16]);
      await s.client.request(false, 0, 0, 64, 48);
      const [r] = await s.client.update(4);
      // Yellow bar (x 8..15): bytes R, G, B, pad = ff ff 00 ff; blue bar (x 48..55): 00 00 ff ff.
      // The unused byte is 0xff: noVNC 1.3 reads it as alpha (see desktop.ts OPAQUE).
      assertEquals([...r.pixels.subarray(4 * 12, 4 * 13)], [255, 255, 0, 255], "yellow");
      assertEquals([...r.pixels.subarray(4 * 52, 4 * 53)], [0, 0, 255, 255], "blue");
      await s.client.setPixelFormat(8, false, [7, 7, 3], [0, 3, 6]);
      await s.client.request(false, 0, 0, 64, 48);
      const [r8] = await s.client.update(1);
      assertEquals(r8.pixels.length, 64 * 48, "8bpp raw bytes");
      assertEquals([r8.pixels[12], r8.pixels[44], r8.pixels[52]], [0x3f, 0x07, 0xc0], "BGR233");
    } finally {
      s.client.close();
    }
  } finally {
    await server.close();
  }
});

Deno.test("demo server: a click draws a dot where the pointer is", async () => {
  const server = await startDemoServer({});
  try {
    const s = await Client.connect(server.addr.port);
    try {
      const at = { x: 400, y: 560 }; // on the plain panel, away from text
      await s.client.request(false, at.x, at.y, 1, 1);
      const [before] = await s.client.update(4);
      const b = new Uint8Array(6);
      const v = new DataView(b.buffer);
      v.setUint8(0, 5);
      v.setUint8(1, 1); // left button
      v.setUint16(2, at.x);
      v.setUint16(4, at.y);
      await s.client.conn.write(b);
      await s.client.request(false, at.x, at.y, 1, 1);
      const [after] = await s.client.update(4);
      assert(
        before.pixels.join() !== after.pixels.join(),
        `pixel under the click unchanged: ${before.pixels}`,
      );
    } finally {
      s.client.close();
    }
  } finally {
    await server.close();
  }
});

Deno.test("demo server: an unknown message type closes the connection", async () => {
  const server = await startDemoServer({ width: 32, height: 32 });
  try {
    const s = await Client.connect(server.addr.port);
    try {
      await s.client.conn.write(new Uint8Array([77, 0, 0, 0]));
      const r = await s.client.conn.read(new Uint8Array(16)).catch(() => null);
      assertEquals(r, null, "EOF after an unknown message");
    } finally {
      s.client.close();
    }
  } finally {
    await server.close();
  }
});

Deno.test("demo server: a failed accept is logged and the server goes on accepting", async () => {
  const { listener, accepts } = listenerFailingOnce();
  const server = await startDemoServer({ width: 32, height: 32, listener });
  try {
    const s = await raceTimeout(Client.connect(server.addr.port), 5000);
    if (s === TIMEOUT || s === STOPPED) throw new Error("no handshake after a failed accept");
    assertEquals([s.width, s.height], [32, 32], "size");
    assert(accepts() >= 2, "accept was called again after the failure");
    s.client.close();
  } finally {
    await server.close();
  }
});

Deno.test("demo desktop: lastKeysym is the last key pressed (a release changes nothing)", () => {
  const d = new DemoDesktop({ width: 64, height: 48 });
  assertEquals(d.lastKeysym, undefined, "before any key");
  d.keyEvent(true, 0x61);
  d.keyEvent(false, 0x62);
  assertEquals(d.lastKeysym, 0x61, "after a press and another key's release");
});
