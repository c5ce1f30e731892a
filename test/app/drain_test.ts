/**
 * The shutdown a load balancer can see, end to end with vncws as a real
 * process: SIGTERM → `/readyz` 503 at once → `--drain-delay` (new sessions
 * still taken) → the listener closes → `--drain-timeout` (sessions still
 * relay) → close code 1001 for WebSocket sessions, the connection closed
 * for raw ones, and a log line. Without `--drain-delay` the listener closes
 * at the signal, as before.
 */
import assert from "node:assert/strict";
import { readAll, type TestWs, wsConnect } from "../../scripts/testing/ws_client.ts";
import { startProxy } from "../../scripts/testing/targets.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const enc = new TextEncoder();
const dec = new TextDecoder();

/** `GET path` on the proxy's port: status and body. */
async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(enc.encode(`GET ${path} HTTP/1.1\r\nHost: vncws\r\n\r\n`));
  const text = await readAll(conn);
  conn.close();
  return { status: Number(text.slice(9, 12)), body: text.slice(text.indexOf("\r\n\r\n") + 4) };
}

/** A WebSocket session that has read the target's banner. */
async function session(port: number): Promise<TestWs> {
  const ws = await wsConnect(port);
  assert.equal(ws.response.status, 101);
  assert.equal(dec.decode(await ws.readBytes(12)), "RFB 003.008\n");
  return ws;
}

/** Sends `text` and reads its echo: the session still relays. */
async function roundTrip(ws: TestWs, text: string): Promise<void> {
  await ws.sendBinary(text);
  assert.equal(dec.decode(await ws.readBytes(text.length)), text);
}

/** Resolves once nothing listens on `port` any more (a connect is refused). */
async function refused(port: number): Promise<void> {
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port }),
    (e: Error) => e instanceof Deno.errors.ConnectionRefused,
  );
}

Deno.test({
  name: "SIGTERM with --drain-delay 2: 503 at once, new sessions during the delay, then 1001",
  ...opts,
  async fn() {
    await using p = await startProxy(["--drain-delay", "2", "--drain-timeout", "4"]);
    const { port, vncws } = p;
    assert.equal((await get(port, "/readyz")).status, 200);
    const before = await session(port);
    // A native viewer (silent: relayed raw after --raw-wait) is open too.
    const raw = await Deno.connect({ hostname: "127.0.0.1", port });
    const banner = new Uint8Array(12);
    assert.equal(await raw.read(banner), 12);
    Deno.kill(vncws.pid, "SIGTERM");
    await vncws.waitFor("/readyz answers 503 now");
    // Not ready at once, yet still accepting: a balancer moves traffic away meanwhile.
    const r = await get(port, "/readyz");
    assert.equal(r.status, 503);
    assert.match(r.body, /^not ready: stopping \(SIGTERM\).*--drain-delay 2s/);
    assert.equal((await get(port, "/healthz")).status, 200);
    const during = await session(port);
    await roundTrip(during, "taken during the delay");
    // Then the listener closes, and the open sessions go on relaying.
    await vncws.waitFor(/stopping why=SIGTERM/);
    await refused(port);
    await roundTrip(before, "still relaying");
    await roundTrip(during, "me too");
    // At --drain-timeout's end every WebSocket session gets 1001, and the log says so.
    assert.deepEqual(await before.waitClose(), { code: 1001, reason: "Going away" });
    assert.deepEqual(await during.waitClose(), { code: 1001, reason: "Going away" });
    before.close();
    during.close();
    // A raw session has no close frame: its connection is closed.
    assert.equal(await raw.read(new Uint8Array(16)), null);
    raw.close();
    assert.equal((await vncws.status).code, 0);
    const out = vncws.output();
    assert.match(out, /--drain-timeout over: closing the sessions still open sessions=3/);
    assert.equal(out.match(/ session end .*code=1001 reason="Going away"/g)?.length, 2, out);
    assert.match(out, /raw session end .*reason="Going away"/);
  },
});

Deno.test({
  name: "without --drain-delay SIGTERM closes the listener at once; sessions drain, then 1001",
  ...opts,
  async fn() {
    await using p = await startProxy(["--drain-timeout", "4"]);
    const { port, vncws } = p;
    const ws = await session(port);
    Deno.kill(vncws.pid, "SIGTERM");
    await vncws.waitFor(/stopping why=SIGTERM/);
    await refused(port);
    await roundTrip(ws, "still relaying");
    assert.equal((await ws.waitClose())?.code, 1001);
    ws.close();
    assert.equal((await vncws.status).code, 0);
    assert.doesNotMatch(vncws.output(), /drain-delay/);
    assert.match(
      vncws.output(),
      /--drain-timeout over: closing the sessions still open sessions=1/,
    );
  },
});

Deno.test({
  name: "a second SIGTERM skips the rest of --drain-delay, a third closes the sessions at once",
  ...opts,
  async fn() {
    // Both long: only the signals can end this in time.
    await using p = await startProxy(["--drain-delay", "600", "--drain-timeout", "600"]);
    const { port, vncws } = p;
    const ws = await session(port);
    Deno.kill(vncws.pid, "SIGTERM");
    await vncws.waitFor("/readyz answers 503 now");
    assert.equal((await get(port, "/readyz")).status, 503);
    Deno.kill(vncws.pid, "SIGTERM");
    await vncws.waitFor("skipping the rest of --drain-delay");
    await vncws.waitFor(/stopping why=SIGTERM/);
    await refused(port);
    await roundTrip(ws, "draining");
    Deno.kill(vncws.pid, "SIGTERM");
    assert.equal((await ws.waitClose())?.code, 1001);
    ws.close();
    assert.equal((await vncws.status).code, 0);
    assert.match(vncws.output(), /SIGTERM again: closing every session now/);
  },
});
