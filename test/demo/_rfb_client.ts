/**
 * A raw RFB 3.8 client for the demo's tests, written from rfbproto: the
 * handshake with security None up to ServerInit, the few client messages
 * the tests send, as bytes, and a session with `vncws -v --demo`.
 * @module
 */
import assert from "node:assert/strict";
import { freePort, type Proc, readExactly, startVncws } from "../../scripts/testing/util.ts";

/** `n` as 4 big-endian bytes. */
export const be32 = (n: number): number[] => [
  (n >>> 24) & 0xff,
  (n >> 16) & 0xff,
  (n >> 8) & 0xff,
  n & 0xff,
];
/** `n` as 2 big-endian bytes. */
export const be16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];

/** A raw RFB 3.8 client with security None on 127.0.0.1:`port`, after ServerInit. */
export async function rfbClient(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  // Through vncws, a silent client is relayed raw after --raw-wait; the server speaks first.
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

/** A SetEncodings message listing `encodings`. */
export function setEncodings(encodings: number[]): Uint8Array {
  return new Uint8Array([2, 0, ...be16(encodings.length), ...encodings.flatMap(be32)]);
}

/** A FramebufferUpdateRequest for `rect`. */
export function updateRequest(
  incremental: boolean,
  rect: { x: number; y: number; w: number; h: number },
): Uint8Array {
  return new Uint8Array([
    3,
    incremental ? 1 : 0,
    ...be16(rect.x),
    ...be16(rect.y),
    ...be16(rect.w),
    ...be16(rect.h),
  ]);
}

/** A raw rectangle of a FramebufferUpdate, its pixels as 0xRRGGBB (the demo's 32 bpp format). */
export interface RawRect {
  x: number;
  y: number;
  w: number;
  h: number;
  pixels: number[];
}

/** One server message this client understands: a raw FramebufferUpdate or an xvp message. */
export type DemoMessage =
  | { type: "update"; rects: RawRect[] }
  | { type: "xvp"; version: number; code: number };

/**
 * Reads one FramebufferUpdate (raw rectangles at the server's 32 bpp
 * little-endian format; the client never sets another) or xvp message.
 */
export async function readDemoMessage(conn: Deno.Conn): Promise<DemoMessage> {
  const type = (await readExactly(conn, 1))[0];
  if (type === 250) {
    const [, version, code] = await readExactly(conn, 3);
    return { type: "xvp", version, code };
  }
  assert.equal(type, 0, `server message type ${type}`);
  const count = new DataView((await readExactly(conn, 3)).buffer).getUint16(1);
  const rects: RawRect[] = [];
  for (let i = 0; i < count; i++) {
    const head = new DataView((await readExactly(conn, 12)).buffer);
    assert.equal(head.getInt32(8), 0, "raw encoding");
    const [x, y, w, h] = [0, 2, 4, 6].map((o) => head.getUint16(o));
    const data = new DataView((await readExactly(conn, w * h * 4)).buffer);
    const pixels = Array.from({ length: w * h }, (_, j) => data.getUint32(j * 4, true) & 0xffffff);
    rects.push({ x, y, w, h, pixels });
  }
  return { type: "update", rects };
}

/**
 * Runs `fn` with a connected client of a real `vncws -v --demo` (raw TCP
 * after --raw-wait) and the vncws process, for its debug log; stops both.
 */
export async function withDemoClient(
  fn: (conn: Deno.TcpConn, vncws: Proc) => Promise<void>,
): Promise<void> {
  const port = freePort();
  const vncws = await startVncws(["-v", "--demo", "--raw-wait", "0.2", `127.0.0.1:${port}`]);
  try {
    const conn = await rfbClient(port);
    try {
      await fn(conn, vncws);
    } finally {
      conn.close();
    }
  } finally {
    await vncws.stop();
  }
}
