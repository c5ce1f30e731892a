/**
 * RFB helpers for the record/replay tests: a viewer's handshake, reading a
 * raw FramebufferUpdate, a recording TCP relay, a recorded demo session.
 * @module
 */
import assert from "node:assert/strict";
import { startDemoServer } from "../../src/demo/rfb_server.ts";
import { createRecorder } from "../../src/recording/record.ts";
import { readExactly } from "../../scripts/testing/util.ts";
import { concatBytes } from "../../src/base/bytes.ts";

const te = new TextEncoder();
const td = new TextDecoder();

export function be16(v: number): number[] {
  return [(v >> 8) & 0xff, v & 0xff];
}
export function be32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
}

/** noVNC's pixel format: 32 bpp, depth 24, little-endian, red in the low byte. */
export const PF_NOVNC = [32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 0, 8, 16, 0, 0, 0];

/** RGB565 little-endian, 16 bpp: not the demo server's native format. */
export const PF16 = [16, 16, 0, 1, ...be16(31), ...be16(63), ...be16(31), 11, 5, 0, 0, 0, 0];

/** A viewer's side of the RFB handshake with security None; returns the ServerInit. */
export async function viewerHandshake(conn: Deno.Conn, minor: 3 | 7 | 8): Promise<Uint8Array> {
  const v = td.decode(await readExactly(conn, 12));
  assert.match(v, /^RFB 003\.00[378]\n$/);
  await conn.write(te.encode(`RFB 003.00${minor}\n`));
  if (minor === 3) {
    assert.deepEqual([...await readExactly(conn, 4)], [0, 0, 0, 1]);
  } else {
    const n = (await readExactly(conn, 1))[0];
    const types = [...await readExactly(conn, n)];
    assert.ok(types.includes(1), `security None offered: ${types}`);
    await conn.write(new Uint8Array([1]));
    if (minor === 8) assert.deepEqual([...await readExactly(conn, 4)], [0, 0, 0, 0]);
  }
  await conn.write(new Uint8Array([1])); // ClientInit: shared
  const head = await readExactly(conn, 24);
  const nameLen = new DataView(head.buffer).getUint32(20);
  const name = await readExactly(conn, nameLen);
  return new Uint8Array([...head, ...name]);
}

/** Reads one FramebufferUpdate with raw rectangles at `bpp`; returns its bytes. */
export async function readRawUpdate(conn: Deno.Conn, bpp: number): Promise<Uint8Array> {
  const head = await readExactly(conn, 4);
  assert.equal(head[0], 0, "FramebufferUpdate");
  const n = new DataView(head.buffer).getUint16(2);
  const parts = [head];
  for (let i = 0; i < n; i++) {
    const r = await readExactly(conn, 12);
    const dv = new DataView(r.buffer);
    const w = dv.getUint16(4);
    const h = dv.getUint16(6);
    assert.equal(dv.getInt32(8), 0, "raw encoding");
    parts.push(r, await readExactly(conn, w * h * (bpp / 8)));
  }
  return concatBytes(parts);
}

/** A TCP relay that records like vncws's relay does (hooks before forwarding). */
export function recordingProxy(targetPort: number, path: string) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let id = 0;
  const done: Promise<void>[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      const rec = createRecorder(path, ++id);
      const target = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
      const pipe = async (
        from: Deno.Conn,
        to: Deno.Conn,
        hook: (d: Uint8Array) => void,
      ) => {
        const buf = new Uint8Array(65536);
        try {
          for (;;) {
            const n = await from.read(buf);
            if (n === null) break;
            hook(buf.subarray(0, n));
            await to.write(buf.subarray(0, n));
          }
        } catch { /* closed */ }
        try {
          from.close();
        } catch { /* closed */ }
        try {
          to.close();
        } catch { /* closed */ }
      };
      done.push(
        Promise.all([
          pipe(conn, target, (d) => rec.fromClient(d)),
          pipe(target, conn, (d) => rec.toClient(d)),
        ]).then(() => rec.close()),
      );
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      await loop;
      await Promise.all(done);
    },
  };
}

/** Records one session against the demo server; returns what its client saw. */
export async function recordDemoSession(
  path: string,
  pf: number[] = PF16,
  size = { width: 64, height: 48 },
) {
  const demo = await startDemoServer(size);
  const proxy = recordingProxy(demo.addr.port, path);
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
    const serverInit = await viewerHandshake(conn, 8);
    await conn.write(new Uint8Array([0, 0, 0, 0, ...pf])); // SetPixelFormat
    await conn.write(new Uint8Array([2, 0, ...be16(1), ...be32(0)])); // SetEncodings raw
    await conn.write(
      new Uint8Array([3, 0, ...be16(0), ...be16(0), ...be16(size.width), ...be16(size.height)]),
    );
    const update = await readRawUpdate(conn, pf[0]);
    conn.close();
    return { serverInit, update };
  } finally {
    await proxy.close();
    await demo.close();
  }
}
