import assert from "node:assert/strict";
import { refusal } from "../../src/auth/refusal.ts";
import type { Target } from "../../src/net/address.ts";
import {
  CLOSE_CLIENT_TOO_FAST,
  DEFAULT_HIGH_WATER_MARK,
  type DenoServeSessionResult,
  REASON_CLIENT_TOO_FAST,
  type RouteAnswer,
  vncwsHandler,
  type VncwsHandlerOptions,
} from "../../src/web/deno_serve.ts";
import { measureDownload } from "../../scripts/testing/deno_serve_pressure.ts";
import { listenTcp, startEchoTarget } from "../../scripts/testing/targets.ts";
import { freePort, readToEof } from "../../scripts/testing/util.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

const tcp = (port: number): Target => ({ kind: "tcp", hostname: "127.0.0.1", port });

/** A Deno.serve app on a free port whose every request goes to the handler. */
function serveApp(
  route: (req: Request) => RouteAnswer,
  options: Partial<VncwsHandlerOptions> = {},
) {
  const ended: DenoServeSessionResult[] = [];
  const waiters: Array<() => void> = [];
  const handler = vncwsHandler({
    route,
    onSessionEnd: (r) => {
      ended.push(r);
      for (const w of waiters.splice(0)) w();
    },
    ...options,
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  return {
    port: server.addr.port,
    ended,
    /** Resolves with the first session's result once it has ended. */
    async sessionEnd(): Promise<DenoServeSessionResult> {
      while (ended.length === 0) await new Promise<void>((r) => waiters.push(r));
      return ended[0];
    },
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/** Opens a WebSocket and resolves once it is open, with a queue of binary messages. */
async function openWs(port: number, protocols?: string[]) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/websockify`, protocols);
  ws.binaryType = "arraybuffer";
  const messages: Uint8Array[] = [];
  let wake: (() => void) | undefined;
  const closed = new Promise<CloseEvent>((resolve) => {
    ws.onclose = (ev) => {
      resolve(ev);
      wake?.();
    };
  });
  ws.onmessage = (ev) => {
    messages.push(new Uint8Array(ev.data as ArrayBuffer));
    wake?.();
  };
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = (e) => reject(new Error(`WebSocket failed: ${(e as ErrorEvent).message}`));
  });
  let done = false;
  closed.then(() => done = true);
  return {
    ws,
    closed,
    /** Reads `n` bytes from the messages received. */
    async read(n: number): Promise<Uint8Array> {
      const out = new Uint8Array(n);
      let off = 0;
      while (off < n) {
        const m = messages.shift();
        if (!m) {
          if (done) throw new Error(`closed after ${off} of ${n} bytes`);
          await new Promise<void>((r) => wake = r);
          continue;
        }
        const take = Math.min(m.length, n - off);
        out.set(m.subarray(0, take), off);
        if (take < m.length) messages.unshift(m.subarray(take));
        off += take;
      }
      return out;
    },
  };
}

/** Sends a raw HTTP/1.1 request; returns the response head and its Content-Length body. */
async function rawRequest(port: number, lines: string[]): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(enc.encode([...lines, "", ""].join("\r\n")));
    let text = "";
    const buf = new Uint8Array(4096);
    for (;;) {
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? 0);
        if (text.length >= end + 4 + length) return text;
      }
      const n = await conn.read(buf);
      if (n === null) return text;
      text += dec.decode(buf.subarray(0, n));
    }
  } finally {
    conn.close();
  }
}

const upgradeLines = (port: number) => [
  "GET /websockify HTTP/1.1",
  `Host: 127.0.0.1:${port}`,
  "Upgrade: websocket",
  "Connection: Upgrade",
  "Sec-WebSocket-Version: 13",
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
];

Deno.test("deno_serve: binary messages relay both ways through a real TCP echo target", async () => {
  const target = startEchoTarget();
  await using app = serveApp(() => tcp(target.port));
  const c = await openWs(app.port, ["binary"]);
  assert.equal(dec.decode(await c.read(12)), "RFB 003.008\n");
  const data = crypto.getRandomValues(new Uint8Array(200_000).subarray(0, 60_000));
  c.ws.send(data);
  c.ws.send(data.subarray(0, 1000));
  assert.deepEqual(await c.read(61_000), new Uint8Array([...data, ...data.subarray(0, 1000)]));
  c.ws.close(1000, "bye");
  const end = await app.sessionEnd();
  assert.equal(end.bytesToTarget, 61_000);
  assert.equal(end.bytesToClient, 12 + 61_000);
  assert.equal(end.code, 1000);
  await target.close();
});

Deno.test("deno_serve: the subprotocol is binary when offered, else the first offered, never one not offered", async () => {
  const target = startEchoTarget();
  await using app = serveApp(() => tcp(target.port));
  for (
    const [offered, chosen] of [
      [["base64", "binary"], "binary"],
      [["chat", "Binary"], "Binary"],
      [["chat", "superchat"], "chat"],
      [undefined, ""],
    ] as const
  ) {
    const c = await openWs(app.port, offered as string[] | undefined);
    assert.equal(c.ws.protocol, chosen, `offered ${offered}`);
    c.ws.close();
    await c.closed;
  }
  await target.close();
});

Deno.test("deno_serve: a target that is down is a 502 with the reason, and no upgrade", async () => {
  const down = freePort();
  const refusals: string[] = [];
  await using app = serveApp(() => tcp(down), { onRefused: (r) => refusals.push(r.kind) });
  const res = await rawRequest(app.port, upgradeLines(app.port));
  assert.match(res, /^HTTP\/1\.1 502 /);
  assert.match(
    res,
    new RegExp(`502 Bad Gateway: cannot connect to 127\\.0\\.0\\.1:${down}: connection refused`),
  );
  assert.deepEqual(refusals, ["connect_failed"]);
  // The same request to a target that is up is switched.
  const target = startEchoTarget();
  await using up = serveApp(() => tcp(target.port));
  const ok = await rawRequest(up.port, upgradeLines(up.port));
  assert.match(ok, /^HTTP\/1\.1 101 /);
  await up.sessionEnd();
  await target.close();
});

Deno.test("deno_serve: refusals are answered as values: not an upgrade, the route's refusal, no target", async () => {
  const target = startEchoTarget();
  await using app = serveApp((req) => {
    const token = new URL(req.url).searchParams.get("token");
    if (token === "good") return tcp(target.port);
    if (token === "none") return null;
    return refusal("unknown_token", 404, "unknown token", { "X-Why": "token" });
  });
  const plain = await fetch(`http://127.0.0.1:${app.port}/websockify`);
  assert.equal(plain.status, 426);
  assert.match(await plain.text(), /Upgrade Required/);
  const post = await rawRequest(app.port, [
    "POST /websockify HTTP/1.1",
    "Host: x",
    "Upgrade: websocket",
  ]);
  assert.match(post, /^HTTP\/1\.1 405 /);
  const lines = upgradeLines(app.port);
  const bad = await rawRequest(app.port, [
    lines[0].replace("/websockify", "/websockify?token=bad"),
    ...lines.slice(1),
  ]);
  assert.match(bad, /^HTTP\/1\.1 404 /);
  assert.match(bad, /x-why: token/i);
  assert.match(bad, /404 Not Found: unknown token/);
  const none = await rawRequest(app.port, [
    lines[0].replace("/websockify", "/websockify?token=none"),
    ...lines.slice(1),
  ]);
  assert.match(none, /404 Not Found: no target for this request/);
  const good = await rawRequest(app.port, [
    lines[0].replace("/websockify", "/websockify?token=good"),
    ...lines.slice(1),
  ]);
  assert.match(good, /^HTTP\/1\.1 101 /);
  await app.sessionEnd();
  await target.close();
});

Deno.test("deno_serve: the target's EOF closes the WebSocket with 1000", async () => {
  const target = startEchoTarget({ closeAfterBanner: true });
  await using app = serveApp(() => tcp(target.port));
  const c = await openWs(app.port, ["binary"]);
  assert.equal(dec.decode(await c.read(12)), "RFB 003.008\n");
  const ev = await c.closed;
  assert.equal(ev.code, 1000);
  assert.equal(ev.reason, "Target closed");
  await target.close();
});

Deno.test("deno_serve: the client's close reaches the target as a FIN after what it sent", async () => {
  let got: Promise<Uint8Array> | undefined;
  let connected!: () => void;
  const accepted = new Promise<void>((r) => connected = r);
  const server = listenTcp((conn) => {
    got = readToEof(conn);
    connected();
    return got.then(() => {});
  });
  await using app = serveApp(() => tcp(server.port));
  const c = await openWs(app.port);
  await accepted;
  c.ws.send(enc.encode("hello"));
  c.ws.close(1000, "done");
  assert.equal(dec.decode(await got!), "hello");
  const end = await app.sessionEnd();
  assert.equal(end.code, 1000);
  assert.equal(end.reason, "client closed: done");
  await server.close();
});

Deno.test("deno_serve: a client that outruns a target which never reads is closed with 1008 at the queue bound", async () => {
  const stuck = listenTcp(); // accepts and never reads
  await using app = serveApp(() => tcp(stuck.port), { maxQueuedBytes: 1024 * 1024 });
  const c = await openWs(app.port);
  const chunk = new Uint8Array(64 * 1024);
  // Far more than the socket buffers and the 1 MiB queue take together.
  for (let i = 0; i < 512; i++) c.ws.send(chunk);
  const ev = await c.closed;
  // Deno drops the TCP connection right after its close frame; with the
  // client's data still unread the kernel resets it, and a client that is
  // still sending may see 1006 instead of the close frame.
  assert.ok(ev.code === CLOSE_CLIENT_TOO_FAST || ev.code === 1006 || ev.code === 0, `${ev.code}`);
  const end = await app.sessionEnd();
  assert.equal(end.code, CLOSE_CLIENT_TOO_FAST);
  assert.equal(end.reason, REASON_CLIENT_TOO_FAST);
  assert.ok(end.peakQueuedToTarget <= 1024 * 1024, `peak ${end.peakQueuedToTarget}`);
  await stuck.close();
});

Deno.test("deno_serve: a client within the queue bound of a reading target is not closed", async () => {
  const target = startEchoTarget({ echo: false, banner: "" });
  await using app = serveApp(() => tcp(target.port), { maxQueuedBytes: 1024 * 1024 });
  const c = await openWs(app.port);
  const chunk = new Uint8Array(64 * 1024);
  for (let i = 0; i < 14; i++) c.ws.send(chunk); // 896 KiB: under the bound even if none is written
  while (target.received() < 14 * 64 * 1024) await new Promise((r) => setTimeout(r, 10));
  c.ws.close(1000);
  const end = await app.sessionEnd();
  assert.equal(end.code, 1000);
  assert.equal(end.bytesToTarget, 14 * 64 * 1024);
  await target.close();
});

Deno.test("deno_serve: a slow client holds the target back: at most the high-water mark and one read wait in Deno", async () => {
  const r = await measureDownload(8 * 1024 * 1024);
  assert.ok(r.delivered >= 8 * 1024 * 1024);
  assert.equal(r.session.code, 1000);
  assert.ok(
    r.session.peakBufferedToClient <= DEFAULT_HIGH_WATER_MARK + 64 * 1024,
    `peak ${r.session.peakBufferedToClient}`,
  );
  // Without the pause the same download piles up in Deno's send buffer.
  const unpaused = await measureDownload(8 * 1024 * 1024, {
    highWaterMark: Number.MAX_SAFE_INTEGER,
  });
  assert.ok(
    unpaused.session.peakBufferedToClient > DEFAULT_HIGH_WATER_MARK + 64 * 1024,
    `peak ${unpaused.session.peakBufferedToClient}`,
  );
});
