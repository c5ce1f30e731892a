/**
 * The relay engine's close and timeout paths in the server role (the
 * proxy) and the client role (the bridge), on in-memory stream pairs: no
 * sockets, no processes. Each test plays the WebSocket peer and the plain
 * side by hand.
 */
import assert from "node:assert/strict";
import { memoryPair } from "../../src/net/memory_stream.ts";
import type { ByteStream } from "../../src/net/stream.ts";
import { readExactly, readToEof } from "../../scripts/testing/util.ts";
import { CloseCode, closePayload, encodeFrame, Opcode } from "../../src/ws/frame.ts";
import { relay, relayWebSocket, relayWebSocketClient } from "../../src/ws/relay.ts";
import { dec, enc, failingWrites, Peer, session } from "./relay_peer.ts";

for (const role of ["server", "client"] as const) {
  const who = role === "server" ? "client" : "server";

  Deno.test(`relay ${role} role: data both ways; the peer's close is echoed`, async () => {
    const s = session(role);
    await s.peer.sendText("up 1");
    await s.peer.sendText("up 2");
    assert.equal(dec.decode(await readExactly(s.plain, 8)), "up 1up 2");
    await s.plain.writeAll(enc.encode("down"));
    assert.deepEqual(await s.peer.next(), { kind: "data", text: "down" });
    await s.peer.send(Opcode.Close, closePayload(CloseCode.Normal, "bye"));
    assert.deepEqual(await s.peer.untilClose(), [{ kind: "close", code: 1000, reason: "bye" }]);
    assert.equal(dec.decode(await readToEof(s.plain)), "", "the plain side sees a clean end");
    const r = await s.done;
    assert.deepEqual(
      [r.toTarget, r.toClient, r.code, r.reason, r.outcome],
      role === "server"
        ? [8, 4, 1000, "client closed: bye", "client_closed"]
        : [4, 8, 1000, "server closed: bye", "target_closed"],
    );
    assert.ok(s.relayStreams.client.closed && s.relayStreams.target.closed, "both closed");
  });

  Deno.test(`relay ${role} role: a protocol error closes with 1002`, async () => {
    const s = session(role);
    await s.peer.sendText("before");
    // The wrong masking for this direction.
    const wrong = encodeFrame(Opcode.Binary, enc.encode("x"), {
      mask: role === "client" ? new Uint8Array([1, 2, 3, 4]) : undefined,
    });
    await s.peer.stream.writeAll(wrong);
    const events = await s.peer.untilClose();
    const close = events.at(-1);
    assert.equal(close?.kind === "close" && close.code, 1002, JSON.stringify(events));
    s.peer.stream.close(); // ends the server role's linger at once
    assert.equal(
      dec.decode(await readToEof(s.plain)),
      "before",
      "bytes before the violation went through",
    );
    const r = await s.done;
    assert.equal(r.code, 1002);
    assert.match(r.reason, role === "server" ? /^frame not masked$/ : /server broke the protocol/);
    assert.equal(r.outcome, "error");
  });

  Deno.test(`relay ${role} role: a message over maxMessageBytes closes with 1009`, async () => {
    const s = session(role, { maxMessageBytes: 10 });
    await s.peer.sendText("0123456789"); // exactly the limit: fine
    assert.equal(dec.decode(await readExactly(s.plain, 10)), "0123456789");
    await s.peer.send(Opcode.Binary, enc.encode("0123456"), false);
    await s.peer.send(Opcode.Continuation, enc.encode("789A")); // 11 bytes in all
    const events = await s.peer.untilClose();
    assert.deepEqual(events.at(-1), {
      kind: "close",
      code: 1009,
      reason: "message larger than 10 bytes",
    });
    s.peer.stream.close();
    const r = await s.done;
    assert.equal(r.code, 1009);
  });

  Deno.test(`relay ${role} role: a silent ${who} is closed by the ping timeout`, async () => {
    const s = session(role, { heartbeat: 0.05, pingTimeout: 0.1 });
    const events = await s.peer.untilClose();
    assert.ok(events.some((e) => e.kind === "ping"), JSON.stringify(events));
    assert.deepEqual(events.at(-1), { kind: "close", code: 1001, reason: "ping timeout" });
    const r = await s.done;
    assert.equal(r.code, 1001);
    assert.equal(
      r.reason,
      role === "server" ? "no pong within 0.1s" : "no answer to a ping within 0.1s",
    );
    assert.equal(r.outcome, "timeout");
  });

  Deno.test(`relay ${role} role: a ${who} that answers pings is not timed out`, async () => {
    const s = session(role, { heartbeat: 0.03, pingTimeout: 0.06 });
    let pings = 0;
    while (pings < 10) {
      const ev = await s.peer.next();
      assert.equal(ev?.kind, "ping", JSON.stringify(ev));
      pings++;
      await s.peer.send(Opcode.Pong, new Uint8Array(0));
    }
    await s.peer.send(Opcode.Close, closePayload(CloseCode.Normal));
    const r = await s.done;
    assert.equal(r.outcome, role === "server" ? "client_closed" : "target_closed");
  });

  Deno.test(`relay ${role} role: the idle timeout closes with 1001`, async () => {
    const s = session(role, { idleTimeout: 0.1 });
    const started = Date.now();
    await s.peer.sendText("some data"); // data, then silence
    assert.equal(dec.decode(await readExactly(s.plain, 9)), "some data");
    assert.deepEqual(await s.peer.untilClose(), [{
      kind: "close",
      code: 1001,
      reason: "idle timeout",
    }]);
    assert.ok(Date.now() - started >= 100, "not before the timeout");
    const r = await s.done;
    assert.deepEqual([r.code, r.reason, r.outcome], [1001, "idle timeout", "timeout"]);
  });

  Deno.test(`relay ${role} role: the shutdown signal closes with 1001 "Going away"`, async () => {
    const stop = new AbortController();
    const s = session(role, { signal: stop.signal });
    await s.peer.sendText("hi");
    assert.equal(dec.decode(await readExactly(s.plain, 2)), "hi");
    stop.abort();
    assert.deepEqual(await s.peer.untilClose(), [{
      kind: "close",
      code: 1001,
      reason: "Going away",
    }]);
    const r = await s.done;
    assert.equal(r.code, 1001);
    assert.equal(r.reason, role === "server" ? "Going away" : "bridge shutting down");
    assert.equal(r.outcome, "shutdown");
  });

  Deno.test(`relay ${role} role: the ${who}'s EOF without a close frame half-closes`, async () => {
    const s = session(role);
    await s.peer.sendText("last words");
    await s.peer.stream.closeWrite();
    // The plain side gets the bytes and the EOF, and may still answer.
    assert.equal(dec.decode(await readToEof(s.plain)), "last words");
    await s.plain.writeAll(enc.encode("answer"));
    assert.deepEqual(await s.peer.next(), { kind: "data", text: "answer" });
    await s.plain.closeWrite();
    const end = await s.peer.untilClose();
    assert.equal(end.at(-1)?.kind, "close", JSON.stringify(end));
    const r = await s.done;
    assert.equal(r.code, 1006);
    assert.equal(
      r.reason,
      role === "server"
        ? "client closed without a close frame"
        : "server closed the connection without a close frame",
    );
    assert.equal(r.outcome, role === "server" ? "client_closed" : "target_closed");
  });

  Deno.test(`relay ${role} role: the plain side's EOF sends close 1000`, async () => {
    const s = session(role);
    await s.plain.writeAll(enc.encode("bye"));
    await s.plain.closeWrite();
    const events = await s.peer.untilClose();
    assert.deepEqual(events, [
      { kind: "data", text: "bye" },
      { kind: "close", code: 1000, reason: role === "server" ? "Target closed" : "" },
    ]);
    await s.peer.send(Opcode.Close, closePayload(CloseCode.Normal));
    const r = await s.done;
    assert.equal(r.code, 1000);
    assert.equal(r.reason, role === "server" ? "Target closed" : "local side closed");
    assert.equal(r.outcome, role === "server" ? "target_closed" : "client_closed");
  });

  Deno.test(`relay ${role} role: a write failure on the plain side closes the session`, async () => {
    const [clientSide, clientRelay] = memoryPair();
    const [targetRelay, targetSide] = memoryPair();
    const server = role === "server";
    const done = server
      ? relayWebSocket(clientRelay, failingWrites(targetRelay))
      : relayWebSocketClient(failingWrites(clientRelay), targetRelay);
    const peer = new Peer(server ? clientSide : targetSide, server);
    await peer.sendText("undeliverable");
    const close = (await peer.untilClose()).at(-1);
    // Answer as a real peer does (the bridge waits for that: relay_endings_test.ts).
    await peer.send(Opcode.Close, closePayload(CloseCode.Normal)).catch(() => {});
    await peer.stream.closeWrite();
    const r = await done;
    const want = server ? [1011, "Target write failed"] : [1001, "client connection lost"];
    assert.deepEqual(close, { kind: "close", code: want[0], reason: want[1] });
    assert.deepEqual(
      [r.code, r.reason, r.outcome],
      server ? [1011, "Target write failed", "error"] : [1001, "local connection lost", "error"],
    );
  });
}

Deno.test("relay server role: target EOF → close 1000 'Target closed'; a silent client is let go", async () => {
  const s = session("server", { closeWaitMs: 50 });
  await s.plain.closeWrite();
  assert.deepEqual(await s.peer.untilClose(), [{
    kind: "close",
    code: 1000,
    reason: "Target closed",
  }]);
  const r = await s.done; // the client never answers: closeWaitMs ends the wait
  assert.deepEqual([r.code, r.reason, r.outcome], [1000, "Target closed", "target_closed"]);
});

Deno.test("relay client role: local EOF and a server that never answers the close", async () => {
  const s = session("client", { closeWaitMs: 50 });
  await s.plain.closeWrite();
  assert.deepEqual(await s.peer.untilClose(), [{ kind: "close", code: 1000, reason: "" }]);
  const r = await s.done;
  assert.equal(r.reason, "local side closed; no close reply from the server");
});

Deno.test("relay client role: every frame is masked with a fresh key", async () => {
  const s = session("client");
  for (let i = 0; i < 8; i++) {
    await s.plain.writeAll(enc.encode(`frame ${i}`));
    assert.deepEqual(await s.peer.next(), { kind: "data", text: `frame ${i}` });
  }
  assert.equal(s.peer.keys.length, 8);
  assert.ok(new Set(s.peer.keys).size >= 7, `keys repeat: ${s.peer.keys.join(" ")}`);
  await s.peer.send(Opcode.Close, closePayload(CloseCode.Normal));
  await s.done;
});

Deno.test("relay server role: pings are answered with pongs, also by the client role", async () => {
  for (const role of ["server", "client"] as const) {
    const s = session(role);
    await s.peer.send(Opcode.Ping, enc.encode("are you there"));
    assert.deepEqual(await s.peer.next(), { kind: "pong" });
    await s.peer.send(Opcode.Close, closePayload(CloseCode.Normal));
    await s.done;
  }
});

Deno.test("relay: the role decides who masks (a client-role relay refuses masked server frames)", async () => {
  const [a, b] = memoryPair();
  const [c, d] = memoryPair();
  const done = relay(b, c, "client");
  await d.writeAll(encodeFrame(Opcode.Binary, enc.encode("x"), { mask: new Uint8Array(4) }));
  const peer = new Peer(d, false);
  const close = (await peer.untilClose()).at(-1);
  assert.deepEqual(close, { kind: "close", code: 1002, reason: "server frame must not be masked" });
  a.close();
  const r = await done;
  assert.equal(r.code, 1002);
});

Deno.test("relay client role: a local read error closes with 1001 and says so", async () => {
  const [, clientRelay] = memoryPair();
  const [targetRelay, targetSide] = memoryPair();
  const local: ByteStream = {
    peer: "local",
    read: () => Promise.reject(new Error("connection reset")),
    writeAll: (d) => clientRelay.writeAll(d),
    closeWrite: () => clientRelay.closeWrite(),
    close: () => clientRelay.close(),
  };
  const done = relayWebSocketClient(local, targetRelay, { closeWaitMs: 50 });
  const peer = new Peer(targetSide, false);
  assert.deepEqual(await peer.untilClose(), [{
    kind: "close",
    code: 1001,
    reason: "client connection lost",
  }]);
  const r = await done; // no reply from the server: the reason stays as it was
  assert.deepEqual([r.code, r.reason, r.outcome], [1001, "local connection lost", "error"]);
});
