/**
 * The library (mod.ts) with real parts: `serve` with a `route` hook mapping
 * `/websockify/<token>` to the demo RFB server and to an echo target, npm
 * ws as the viewer; a hook's refusal reaches the client as its status and
 * reason; a hook that throws is a 500 "internal error" with one log line
 * while another session keeps relaying; `onSessionEnd` gets the byte
 * counts; `close({ drain })` ends sessions with 1001; `handleConnection`
 * under a program's own listener; `bridge` to a WebSocket echo.
 */
import assert from "node:assert/strict";
import net from "node:net";
import WebSocket from "ws";
import { startEchoTarget } from "../scripts/testing/targets.ts";
import { freePort } from "../scripts/testing/util.ts";
import { wsEcho, wsOpen } from "../scripts/testing/ws_npm.ts";
import { startDemoServer } from "../src/demo/rfb_server.ts";
import {
  bridge,
  createHandler,
  handleConnection,
  type ProxyHooks,
  refuse,
  serve,
  type SessionRecord,
  type Target,
} from "../mod.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const dec = new TextDecoder();

/** The status, body and (for a session) the socket of one WebSocket attempt. */
type Attempt = { status: number; body: string } | { ws: WebSocket; banner: string };

function attempt(url: string, headers: Record<string, string> = {}): Promise<Attempt> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.binaryType = "nodebuffer";
    ws.once("error", reject);
    ws.once("unexpected-response", (_req: unknown, res: any) => {
      let body = "";
      res.on("data", (c: Uint8Array) => body += dec.decode(c));
      res.on("end", () => {
        resolve({ status: res.statusCode, body });
        ws.terminate();
      });
    });
    ws.once("message", (m: Uint8Array) => resolve({ ws, banner: dec.decode(m) }));
  });
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((r) => ws.once("close", (code: number) => r(code)));
}

/** A demo desktop, an echo target, and hooks routing `demo`, `echo` and `boom` (throws). */
async function fixture(extra: ProxyHooks = {}) {
  const demo = await startDemoServer({ hostname: "127.0.0.1", port: 0, width: 64, height: 48 });
  const echo = startEchoTarget({ banner: "ECHO\n" });
  const desks = new Map<string, Target>([
    ["demo", { kind: "tcp", hostname: "127.0.0.1", port: demo.addr.port }],
    ["echo", { kind: "tcp", hostname: "127.0.0.1", port: echo.port }],
  ]);
  const lines: Array<{ level: string; msg: string; fields: Record<string, unknown> }> = [];
  const ended: SessionRecord[] = [];
  const hooks: ProxyHooks = {
    route: ({ token }) => {
      if (token === "boom") throw new Error("secret-db-password-in-message");
      if (token === "closed") return refuse(403, "no such desk");
      return desks.get(token ?? "") ?? null;
    },
    onSessionEnd: (r) => ended.push(r),
    log: (level, msg, fields) => lines.push({ level, msg, fields }),
    ...extra,
  };
  const close = async () => {
    await demo.close();
    await echo.close();
  };
  return { hooks, lines, ended, close };
}

Deno.test(
  "serve: a route hook maps /websockify/<token> to the demo desktop; refusals are answered",
  opts,
  async () => {
    const f = await fixture();
    const server = await serve({ config: {}, hooks: f.hooks });
    const port = (server.addr as Deno.NetAddr).port;
    try {
      const ok = await attempt(`ws://127.0.0.1:${port}/websockify/demo`);
      assert.ok("ws" in ok, JSON.stringify(ok));
      assert.equal(ok.banner, "RFB 003.008\n");
      assert.equal(server.sessions().length, 1);
      ok.ws.close();
      // The hook's refusal: its status and reason reach the client.
      const no = await attempt(`ws://127.0.0.1:${port}/websockify/closed`);
      assert.deepEqual(no, { status: 403, body: "403 Forbidden: no such desk\n" });
      // null from the hook: unknown token, 404.
      const unknown = await attempt(`ws://127.0.0.1:${port}/websockify/nosuch`);
      assert.ok("status" in unknown && unknown.status === 404, JSON.stringify(unknown));
    } finally {
      await server.close();
      await f.close();
    }
    assert.equal(await server.finished, 0);
  },
);

Deno.test(
  "serve: a hook that throws is a 500 with one log line; another session keeps relaying; onSessionEnd counts bytes",
  opts,
  async () => {
    const f = await fixture();
    const server = await serve({ args: [`127.0.0.1:${freePort()}`], hooks: f.hooks });
    const port = (server.addr as Deno.NetAddr).port;
    try {
      const echo = await wsOpen(`ws://127.0.0.1:${port}/websockify/echo`);
      assert.equal(echo.banner, "ECHO\n");
      const boom = await attempt(`ws://127.0.0.1:${port}/websockify/boom`);
      assert.deepEqual(boom, { status: 500, body: "500 Internal Server Error: internal error\n" });
      const mentions = f.lines.filter((l) => JSON.stringify(l).includes("secret-db-password"));
      assert.equal(mentions.length, 1, JSON.stringify(f.lines));
      assert.equal(mentions[0].msg, "refused");
      // The other session is unharmed.
      const data = new Uint8Array(3000).map((_, i) => i % 251);
      assert.deepEqual(await wsEcho(echo.ws, data), data);
      const done = closed(echo.ws);
      echo.ws.close();
      await done;
      for (let i = 0; i < 100 && f.ended.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(f.ended.length, 1);
      const r = f.ended[0];
      assert.equal(r.bytesUp, 3000);
      assert.equal(r.bytesDown, 3000 + 5);
      assert.equal(r.kind, "ws");
      assert.ok(r.tokenHash && !r.tokenHash.includes("echo"), r.tokenHash);
      // The close code and reason as the `session end` line has them.
      assert.equal(typeof r.closeCode, "number");
      assert.equal(r.closeReason, "client closed");
      assert.equal(r.outcome, "client_closed");
      assert.ok(r.durationMs >= 0);
      // A refused or failed attempt is no session: no record for it.
      assert.ok(f.ended.every((e) => e.target === r.target));
    } finally {
      await server.close();
      await f.close();
    }
  },
);

Deno.test(
  "serve: authorize refuses before the route hook; a missing header is 401, with it the session opens",
  opts,
  async () => {
    let routed = 0;
    const f = await fixture();
    const route = f.hooks.route!;
    const server = await serve({
      hooks: {
        ...f.hooks,
        authorize: ({ headers }) =>
          headers.get("x-user") === "ann" ? null : refuse(401, "who are you?"),
        route: (req) => {
          routed++;
          return route(req);
        },
      },
    });
    const port = (server.addr as Deno.NetAddr).port;
    try {
      const no = await attempt(`ws://127.0.0.1:${port}/websockify/demo`);
      assert.ok("status" in no && no.status === 401 && no.body.includes("who are you?"));
      assert.equal(routed, 0);
      const ok = await attempt(`ws://127.0.0.1:${port}/websockify/demo`, { "x-user": "ann" });
      assert.ok("ws" in ok && ok.banner === "RFB 003.008\n");
      ok.ws.close();
    } finally {
      await server.close();
      await f.close();
    }
  },
);

Deno.test(
  "serve: close({ drain }) ends open sessions with 1001; close() without one closes at once",
  opts,
  async () => {
    for (const drain of [0.2, undefined]) {
      const f = await fixture();
      const server = await serve({ hooks: f.hooks });
      const port = (server.addr as Deno.NetAddr).port;
      try {
        const s = await wsOpen(`ws://127.0.0.1:${port}/websockify/echo`);
        const code = closed(s.ws);
        assert.equal(server.sessions().length, 1);
        await server.close({ drain });
        assert.equal(await code, 1001);
        assert.equal(server.sessions().length, 0);
        // Stopped: nothing listens any more.
        await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }));
      } finally {
        await f.close();
      }
    }
  },
);

Deno.test(
  "handleConnection: a program's own listener runs connections through the same pipeline",
  opts,
  async () => {
    const f = await fixture();
    const handler = await createHandler({ hooks: f.hooks });
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const loop = (async () => {
      for await (const conn of listener) void handleConnection(conn, handler);
    })();
    try {
      const ok = await attempt(`ws://127.0.0.1:${listener.addr.port}/websockify/demo`);
      assert.ok("ws" in ok && ok.banner === "RFB 003.008\n");
      assert.equal(handler.sessions().length, 1);
      const code = closed(ok.ws);
      const no = await attempt(`ws://127.0.0.1:${listener.addr.port}/websockify/closed`);
      assert.ok("status" in no && no.status === 403);
      await handler.close();
      assert.equal(await code, 1001);
      // A handler that was closed takes no more connections: they are closed at once.
      const late = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
      assert.equal(await late.read(new Uint8Array(8)), null);
      late.close();
    } finally {
      listener.close();
      await loop.catch(() => {});
      await f.close();
    }
    assert.throws(() => handleConnection({} as Deno.Conn, { ...handler }), TypeError);
  },
);

Deno.test(
  "handleConnection: a node:net server's sockets run through the same pipeline",
  opts,
  async () => {
    const f = await fixture();
    const handler = await createHandler({ hooks: f.hooks });
    const server = net.createServer((socket) => void handleConnection(socket, handler));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const ok = await attempt(`ws://127.0.0.1:${port}/websockify/demo`);
      assert.ok("ws" in ok && ok.banner === "RFB 003.008\n");
      const no = await attempt(`ws://127.0.0.1:${port}/websockify/closed`);
      assert.ok("status" in no && no.status === 403);
      const code = closed(ok.ws);
      await handler.close();
      assert.equal(await code, 1001);
    } finally {
      await new Promise((r) => server.close(r));
      await f.close();
    }
  },
);

Deno.test("bridge: a local TCP port bridged to a WebSocket echo through vncws", opts, async () => {
  const f = await fixture();
  const server = await serve({ hooks: f.hooks });
  const port = (server.addr as Deno.NetAddr).port;
  const b = await bridge({ config: { url: `ws://127.0.0.1:${port}/websockify/echo` } });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: (b.addr as Deno.NetAddr).port });
    const buf = new Uint8Array(64);
    let got = "";
    while (got.length < 5) got += dec.decode(buf.subarray(0, (await conn.read(buf))!));
    assert.equal(got, "ECHO\n");
    await conn.write(new TextEncoder().encode("hello"));
    got = "";
    while (got.length < 5) got += dec.decode(buf.subarray(0, (await conn.read(buf))!));
    assert.equal(got, "hello");
    conn.close();
    // A bridge to a refused token: the local connection is closed without bytes.
    const bad = await bridge({
      args: [`127.0.0.1:${freePort()}`, `ws://127.0.0.1:${port}/websockify/closed`],
    });
    const c2 = await Deno.connect({ hostname: "127.0.0.1", port: (bad.addr as Deno.NetAddr).port });
    assert.equal(await c2.read(buf), null);
    c2.close();
    await bad.close();
  } finally {
    await b.close();
    await server.close();
    await f.close();
  }
  assert.equal(await b.finished, 0);
});
