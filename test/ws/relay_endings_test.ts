/**
 * The relay engine's endings in the hard cases, on in-memory stream pairs
 * with bounded buffers: a peer that stopped reading is still ended by the
 * ping timeout and by shutdown; the bridge reads the server on after a
 * local write failure; the ping timeout counts the peer's data as life and
 * does not blame a peer the relay is not reading; an abort with a
 * CloseRequest ends one session with its own code and reason.
 */
import assert from "node:assert/strict";
import { memoryPair, type MemoryStream } from "../../src/net/memory_stream.ts";
import { readExactly, readToEof } from "../../scripts/testing/util.ts";
import { CloseCode, closePayload, Opcode } from "../../src/ws/frame.ts";
import { CLOSE_GRACE_MS, CloseRequest } from "../../src/ws/relay_core.ts";
import { relayWebSocket, relayWebSocketClient } from "../../src/ws/relay.ts";
import type { ByteStream } from "../../src/net/stream.ts";
import { dec, enc, failingWrites, Peer, session } from "./relay_peer.ts";

/** Writes to `stream` until a write fails (the relay closed it). */
async function flood(stream: MemoryStream): Promise<void> {
  const chunk = new Uint8Array(8192);
  try {
    for (;;) await stream.writeAll(chunk);
  } catch { /* closed */ }
}

/** `p`, or a failure once `ms` passed. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: still running after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

for (const role of ["server", "client"] as const) {
  const who = role === "server" ? "client" : "server";

  Deno.test(`relay ${role} role: the ping timeout ends a session whose ${who} stopped reading`, async () => {
    // The plain side streams; the peer reads nothing, so our writes to it block.
    const s = session(role, { heartbeat: 0.05, pingTimeout: 0.1 }, { peer: 16 * 1024 });
    const flooding = flood(s.plain);
    const r = await within(s.done, 3000 + CLOSE_GRACE_MS, "the ping timeout");
    assert.deepEqual([r.code, r.outcome], [1001, "timeout"]);
    assert.match(r.reason, /within 0\.1s/);
    assert.ok(s.relayStreams.client.closed && s.relayStreams.target.closed, "both closed");
    await flooding;
    s.peer.stream.close();
  });

  Deno.test(`relay ${role} role: shutdown ends a session whose ${who} stopped reading`, async () => {
    const stop = new AbortController();
    const s = session(role, { signal: stop.signal }, { peer: 16 * 1024 });
    const flooding = flood(s.plain);
    await new Promise((r) => setTimeout(r, 100)); // the peer's buffer fills up
    stop.abort();
    const r = await within(s.done, 2000 + CLOSE_GRACE_MS, "shutdown");
    assert.deepEqual([r.code, r.outcome], [1001, "shutdown"]);
    await flooding;
    s.peer.stream.close();
  });

  Deno.test(`relay ${role} role: the ${who}'s data counts as an answer to pings`, async () => {
    const s = session(role, { heartbeat: 0.03, pingTimeout: 0.06 });
    // Never a pong: only data, every 15 ms, for well over the ping timeout.
    for (let i = 0; i < 25; i++) {
      await s.peer.sendText("x");
      assert.equal(dec.decode(await readExactly(s.plain, 1)), "x");
      await new Promise((r) => setTimeout(r, 15));
    }
    await s.peer.send(Opcode.Close, closePayload(CloseCode.Normal));
    const events = await s.peer.untilClose();
    assert.ok(events.some((e) => e.kind === "ping"), "pings were sent");
    assert.deepEqual(events.at(-1), { kind: "close", code: 1000, reason: "" });
    const r = await s.done;
    assert.equal(r.outcome, role === "server" ? "client_closed" : "target_closed", r.reason);
  });

  Deno.test(`relay ${role} role: a ${who} left unread behind a full plain side is not timed out`, async () => {
    const s = session(role, { heartbeat: 0.05, pingTimeout: 0.1 }, { plain: 1024 });
    // Its data and close are sent at once; the plain side takes nothing for a
    // while, so the relay does not read the peer (whose answer would be there).
    const data = new Uint8Array(16 * 1024).fill(0x61);
    await s.peer.send(Opcode.Binary, data);
    await s.peer.send(Opcode.Close, closePayload(CloseCode.Normal));
    await new Promise((r) => setTimeout(r, 400));
    assert.equal((await readExactly(s.plain, data.length)).length, data.length);
    const r = await s.done;
    assert.deepEqual(
      [r.code, r.outcome],
      [1000, role === "server" ? "client_closed" : "target_closed"],
      r.reason,
    );
  });
}

Deno.test("relay client role: after a local write failure the server is read until it ends", async () => {
  const [clientSide, clientRelay] = memoryPair();
  const [targetRelay, targetSide] = memoryPair();
  const done = relayWebSocketClient(failingWrites(clientRelay), targetRelay);
  const server = new Peer(targetSide, false);
  await server.sendText("undeliverable");
  assert.deepEqual((await server.untilClose()).at(-1), {
    kind: "close",
    code: 1001,
    reason: "client connection lost",
  });
  // The server still streams (more than the pair buffers) before it answers:
  // the bridge reads on, so these writes succeed (a closed socket would RST).
  for (let i = 0; i < 32; i++) await server.sendText("y".repeat(8192));
  await server.send(Opcode.Close, closePayload(CloseCode.GoingAway));
  await server.stream.closeWrite();
  const r = await done;
  assert.deepEqual([r.code, r.reason, r.outcome], [1001, "local connection lost", "error"]);
  clientSide.close();
});

Deno.test("relay client role: after a local write failure a silent server is let go after closeWaitMs", async () => {
  const [clientSide, clientRelay] = memoryPair();
  const [targetRelay, targetSide] = memoryPair();
  const done = relayWebSocketClient(failingWrites(clientRelay), targetRelay, { closeWaitMs: 100 });
  const server = new Peer(targetSide, false);
  await server.sendText("undeliverable");
  assert.equal((await server.untilClose()).at(-1)?.kind, "close");
  const r = await within(done, 2000, "the close wait");
  assert.equal(r.code, 1001);
  assert.ok(targetRelay.closed, "the server connection is closed");
  clientSide.close();
  targetSide.close();
});

Deno.test({
  name: "relay server role: the timers are cleared even when ending the session throws",
  sanitizeOps: true, // fails the test if an interval is left running
  fn: timersClearedOnThrow,
});

async function timersClearedOnThrow(): Promise<void> {
  const [clientSide, clientRelay] = memoryPair();
  const [targetRelay, targetSide] = memoryPair();
  const target: ByteStream = {
    peer: "target",
    read: (b) => targetRelay.read(b),
    writeAll: (d) => targetRelay.writeAll(d),
    closeWrite: () => Promise.reject(new Error("closeWrite failed")),
    close: () => targetRelay.close(),
  };
  // The heartbeat and idle timers run.
  const done = relayWebSocket(clientRelay, target, { heartbeat: 10, idleTimeout: 10 });
  const client = new Peer(clientSide, true);
  await client.send(Opcode.Close, closePayload(CloseCode.Normal));
  await assert.rejects(done, /closeWrite failed/);
  assert.ok(clientRelay.closed && targetRelay.closed, "both closed");
  targetSide.close();
}

Deno.test("relay server role: a long half-close wait sets no timer per turn", async () => {
  const s = session("server");
  await s.peer.stream.closeWrite(); // the client's EOF: the wait for a silent target starts
  assert.equal(await readToEof(s.plain).then((b) => b.length), 0);
  const real = globalThis.setTimeout;
  const pause = (ms: number) => new Promise((r) => real(r, ms));
  let timers = 0;
  globalThis.setTimeout =
    ((fn: () => void, ms?: number) => (timers++, real(fn, ms))) as typeof setTimeout;
  try {
    // The target keeps talking for a second: the session stays open throughout.
    for (let i = 0; i < 20; i++) {
      await s.plain.writeAll(enc.encode("."));
      assert.deepEqual(await s.peer.next(), { kind: "data", text: "." });
      await pause(50);
    }
  } finally {
    globalThis.setTimeout = real;
  }
  assert.ok(timers <= 1, `${timers} timers in 1 s (one per 250 ms turn before)`);
  await s.plain.closeWrite();
  assert.equal((await s.peer.untilClose()).at(-1)?.kind, "close");
  await s.done;
});

Deno.test("relay server role: an abort with a CloseRequest closes with its code and reason", async () => {
  const end = new AbortController();
  const s = session("server", { signal: end.signal });
  end.abort(new CloseRequest(1000, "ended by an administrator"));
  const events = await s.peer.untilClose();
  assert.deepEqual(events.at(-1), {
    kind: "close",
    code: 1000,
    reason: "ended by an administrator",
  });
  await s.peer.send(Opcode.Close, closePayload(CloseCode.Normal));
  const r = await s.done;
  assert.deepEqual([r.code, r.reason, r.outcome], [1000, "ended by an administrator", "ended"]);
  s.peer.stream.close();
  // A plain abort is still a shutdown.
  const stop = new AbortController();
  const t = session("server", { signal: stop.signal });
  stop.abort();
  assert.deepEqual((await t.peer.untilClose()).at(-1), {
    kind: "close",
    code: 1001,
    reason: "Going away",
  });
  await t.peer.send(Opcode.Close, closePayload(CloseCode.Normal));
  assert.equal((await t.done).outcome, "shutdown");
  t.peer.stream.close();
});
