/**
 * The RFB policy filter between connect and relay, with the real vncws
 * process: a WebSocket viewer and a raw one against an RFB server in this
 * process that records what reaches it. View-only drops the key but not the
 * update request; a message type nothing can frame ends the session with the
 * reason (the WebSocket close frame's and the raw session's end line);
 * without a policy the same bytes all reach the server.
 */
import assert from "node:assert/strict";
import { freePort, type Proc, startVncws, waitUntil } from "../../scripts/testing/util.ts";
import { listenTcp, type TcpServer } from "../../scripts/testing/targets.ts";
import { type TestWs, wsConnect } from "../../scripts/testing/ws_client.ts";

const be16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const text = (s: string) => new TextEncoder().encode(s);
const PF32 = [32, 24, 0, 1, ...be16(255), ...be16(255), ...be16(255), 16, 8, 0, 0, 0, 0];
const SERVER_INIT = [...be16(8), ...be16(8), ...PF32, 0, 0, 0, 1, 0x74];
const FBUR = [3, 1, 0, 0, 0, 0, 0, 8, 0, 8];
const KEY = [4, 1, 0, 0, 0, 0, 0, 0x61];

async function readN(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  for (let off = 0; off < n;) {
    const r = await conn.read(out.subarray(off));
    if (r === null) throw new Error("EOF");
    off += r;
  }
  return out;
}

/** An RFB 3.8 server offering None; what it receives after ClientInit goes into `got`. */
function rfbServer(): TcpServer & { got: number[] } {
  const got: number[] = [];
  const server = listenTcp(async (conn) => {
    await conn.write(text("RFB 003.008\n"));
    await readN(conn, 12);
    await conn.write(new Uint8Array([1, 1]));
    await readN(conn, 1);
    await conn.write(new Uint8Array([0, 0, 0, 0]));
    await readN(conn, 1);
    await conn.write(new Uint8Array(SERVER_INIT));
    const buf = new Uint8Array(1024);
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      got.push(...buf.subarray(0, n));
    }
  });
  return Object.assign(server, { got });
}

/** The viewer's side of the handshake over a WebSocket, up to ServerInit. */
async function wsHandshake(ws: TestWs): Promise<void> {
  await ws.readBytes(12);
  await ws.sendBinary(text("RFB 003.008\n"));
  await ws.readBytes(2);
  await ws.sendBinary(new Uint8Array([1]));
  await ws.readBytes(4);
  await ws.sendBinary(new Uint8Array([1]));
  await ws.readBytes(SERVER_INIT.length);
}

async function withVncws(
  args: string[],
  fn: (port: number, vncws: Proc, server: ReturnType<typeof rfbServer>) => Promise<void>,
): Promise<void> {
  const server = rfbServer();
  const port = freePort();
  const vncws = await startVncws([...args, `127.0.0.1:${port}`, `127.0.0.1:${server.port}`]);
  try {
    await fn(port, vncws, server);
  } finally {
    await vncws.stop();
    await server.close();
  }
}

Deno.test("rfb policy: --view-only drops a WebSocket viewer's key; an unknown message ends the session with the reason", async () => {
  const metrics = freePort();
  await withVncws(["--view-only", "--metrics", String(metrics)], async (port, vncws, server) => {
    const ws = await wsConnect(port, { path: "/websockify" });
    try {
      await wsHandshake(ws);
      await ws.sendBinary(new Uint8Array([...FBUR, ...KEY, ...FBUR]));
      await waitUntil(() => server.got.length >= 2 * FBUR.length, "the update requests");
      await ws.sendBinary(new Uint8Array([77, 0, 0, 0]));
      const close = await ws.waitClose();
      assert.equal(close?.code, 1008);
      assert.match(close!.reason, /client message of unknown type 77/);
      assert.deepEqual(server.got, [...FBUR, ...FBUR], "the key and the unknown message held back");
      await vncws.waitFor(/session end .*dropped=\{"key":1\}/);
      assert.match(vncws.output(), /WARN +rfb policy ended the session .*unknown type 77/);
      const text = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
      assert.match(text, /^vncws_rfb_dropped_total\{kind="key"\} 1$/m);
      assert.match(text, /^vncws_rfb_dropped_total\{kind="pointer"\} 0$/m);
    } finally {
      ws.close();
    }
  });
  // Negative: without a policy every byte reaches the server, the unknown one too.
  await withVncws([], async (port, vncws, server) => {
    const ws = await wsConnect(port, { path: "/websockify" });
    try {
      await wsHandshake(ws);
      await ws.sendBinary(new Uint8Array([...FBUR, ...KEY, 77, 0, 0, 0]));
      await waitUntil(() => server.got.length >= 22, "the bytes at the server");
      assert.deepEqual(server.got, [...FBUR, ...KEY, 77, 0, 0, 0]);
      assert.doesNotMatch(vncws.output(), /rfb/);
    } finally {
      ws.close();
    }
  });
});

Deno.test("rfb policy: a raw viewer gets the same policy; the session's end line names the reason", async () => {
  await withVncws(["--view-only", "--raw-wait", "0.2"], async (port, vncws, server) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await readN(conn, 12);
      await conn.write(text("RFB 003.008\n"));
      await readN(conn, 2);
      await conn.write(new Uint8Array([1]));
      await readN(conn, 4);
      await conn.write(new Uint8Array([1]));
      await readN(conn, SERVER_INIT.length);
      await conn.write(new Uint8Array([...KEY, ...FBUR, 5, 0, 0, 1, 0, 1]));
      await waitUntil(() => server.got.length >= FBUR.length, "the update request");
      await conn.write(new Uint8Array([99]));
      await vncws.waitFor(/raw session end .*reason=.*unknown type 99/);
      assert.match(vncws.output(), /raw session end .*dropped=\{"key":1,"pointer":1\}/);
      assert.deepEqual(server.got, FBUR);
    } finally {
      conn.close();
    }
  });
});

Deno.test("rfb policy: a server offering only VeNCrypt: the viewer is told to give vncws the credentials", async () => {
  const server = listenTcp(async (conn) => {
    await conn.write(text("RFB 003.008\n"));
    await readN(conn, 12);
    await conn.write(new Uint8Array([1, 19]));
    await conn.read(new Uint8Array(16)).catch(() => null);
  });
  const port = freePort();
  const plain = freePort();
  const target = `127.0.0.1:${server.port}`;
  const vncws = await startVncws(["--clipboard", "to-client", `127.0.0.1:${port}`, target]);
  const other = await startVncws([`127.0.0.1:${plain}`, target]);
  try {
    const ws = await wsConnect(port, { path: "/websockify" });
    try {
      await ws.readBytes(12);
      await ws.sendBinary(text("RFB 003.008\n"));
      const ev = await ws.next();
      assert.ok(ev?.kind === "data");
      const failure = ev.bytes;
      assert.equal(failure[0], 0, "no security types: the failure form");
      const length = new DataView(failure.buffer, failure.byteOffset).getUint32(1);
      assert.equal(failure.length, 5 + length);
      const reason = new TextDecoder().decode(failure.subarray(5));
      assert.match(reason, /only security types vncws cannot follow \(19\)/);
      assert.match(reason, /give vncws the server's password/);
      const close = await ws.waitClose();
      assert.equal(close?.code, 1008);
      assert.equal(close?.reason.slice(0, 40), reason.slice(0, 40));
    } finally {
      ws.close();
    }
    // Negative: without a policy the viewer gets the server's list as it is.
    const ws2 = await wsConnect(plain, { path: "/websockify" });
    try {
      await ws2.readBytes(12);
      await ws2.sendBinary(text("RFB 003.008\n"));
      assert.deepEqual([...await ws2.readBytes(2)], [1, 19]);
    } finally {
      ws2.close();
    }
  } finally {
    await vncws.stop();
    await other.stop();
    await server.close();
  }
});
