/**
 * The relay engine's raw role (native VNC viewers) on in-memory stream
 * pairs: half-close, and the same hooks as WebSocket sessions — idle
 * timeout, `--traffic` symbols, `--record` copies and live counts, shutdown.
 */
import assert from "node:assert/strict";
import { memoryPair } from "../../src/net/memory_stream.ts";
import { readExactly, readToEof } from "../../scripts/testing/util.ts";
import { type RawRelayOptions, relayRaw } from "../../src/ws/relay.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A raw session on memory pairs: `viewer` and `server` are the test's ends. */
function session(options: RawRelayOptions = {}) {
  const [viewer, clientRelay] = memoryPair();
  const [targetRelay, server] = memoryPair();
  return { viewer, server, done: relayRaw(clientRelay, targetRelay, options) };
}

Deno.test("relayRaw: bytes both ways, each direction half-closed on its own", async () => {
  const s = session();
  await s.viewer.writeAll(enc.encode("hello"));
  assert.equal(dec.decode(await readExactly(s.server, 5)), "hello");
  await s.viewer.closeWrite();
  assert.equal(dec.decode(await readToEof(s.server)), "", "the server sees the viewer's EOF");
  // The other direction still works after the half-close.
  await s.server.writeAll(enc.encode("still here"));
  await s.server.closeWrite();
  assert.equal(dec.decode(await readToEof(s.viewer)), "still here");
  const r = await s.done;
  assert.deepEqual(
    [r.toTarget, r.toClient, r.code, r.reason, r.outcome],
    [5, 10, 0, "both sides closed", "client_closed"],
  );
});

Deno.test("relayRaw: idleTimeout hangs up a session where nothing moves", async () => {
  const s = session({ idleTimeout: 0.1 });
  const started = Date.now();
  await s.viewer.writeAll(enc.encode("x"));
  assert.equal(dec.decode(await readExactly(s.server, 1)), "x");
  assert.equal(dec.decode(await readToEof(s.viewer)), "", "the viewer is hung up on");
  const r = await s.done;
  assert.ok(Date.now() - started >= 100, "not before the timeout");
  assert.deepEqual([r.reason, r.outcome, r.toTarget], ["idle timeout", "timeout", 1]);
});

Deno.test("relayRaw: traffic keeps an idleTimeout session open", async () => {
  const s = session({ idleTimeout: 0.1 });
  const started = Date.now();
  // 300 ms of traffic, a message every 30 ms: three timeouts' worth.
  while (Date.now() - started < 300) {
    await s.viewer.writeAll(enc.encode("."));
    assert.equal(dec.decode(await readExactly(s.server, 1)), ".");
    await new Promise((r) => setTimeout(r, 30));
  }
  await s.viewer.closeWrite();
  await s.server.closeWrite();
  const r = await s.done;
  assert.equal(r.outcome, "client_closed", r.reason);
});

Deno.test("relayRaw: --traffic symbols and --record copies, per direction", async () => {
  const symbols: string[] = [];
  const up: string[] = [];
  const down: string[] = [];
  const s = session({
    traffic: (sym) => symbols.push(sym),
    record: {
      fromClient: (d) => up.push(dec.decode(d)),
      toClient: (d) => down.push(dec.decode(d)),
    },
  });
  await s.viewer.writeAll(enc.encode("request"));
  assert.equal(dec.decode(await readExactly(s.server, 7)), "request");
  await s.server.writeAll(enc.encode("answer"));
  assert.equal(dec.decode(await readExactly(s.viewer, 6)), "answer");
  await s.viewer.closeWrite();
  await s.server.closeWrite();
  const r = await s.done;
  assert.deepEqual(symbols.join(""), "}>{<");
  assert.deepEqual([up, down], [["request"], ["answer"]]);
  assert.deepEqual([r.toTarget, r.toClient], [7, 6]);
});

Deno.test("relayRaw: the shutdown signal ends the session", async () => {
  const stop = new AbortController();
  const s = session({ signal: stop.signal });
  await s.viewer.writeAll(enc.encode("hi"));
  assert.equal(dec.decode(await readExactly(s.server, 2)), "hi");
  stop.abort();
  assert.equal(dec.decode(await readToEof(s.viewer)), "");
  const r = await s.done;
  assert.deepEqual([r.reason, r.outcome], ["Going away", "shutdown"]);
});

Deno.test("relayRaw: a failed write ends both directions", async () => {
  const s = session();
  s.server.close(); // the server's end is gone: writes toward it fail
  await s.viewer.writeAll(enc.encode("lost"));
  assert.equal(dec.decode(await readToEof(s.viewer)), "");
  const r = await s.done;
  assert.equal(r.outcome, "error");
});
