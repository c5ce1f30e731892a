/**
 * Leak test: hundreds of sequential connections through a bridge process,
 * ending every way we can make them end (local EOF, local abrupt close
 * mid-transfer and with unread data, server close, server dropping TCP,
 * server protocol error, server refusing the handshake, server never
 * answering the handshake, server silent after our close, server ignoring
 * pings), over ws:// and wss://. Afterwards the bridge holds no sockets
 * beyond its listener (counted from /proc/<pid>/fd).
 */
import assert from "node:assert/strict";
import { CloseCode, closePayload, Opcode } from "../../src/ws/frame.ts";
import {
  freePort,
  readExactly,
  readToEof,
  skipUnless,
  writeAll,
} from "../../scripts/testing/util.ts";
import { randomBytes } from "../../scripts/testing/ws_client.ts";
import {
  accept101,
  countFds,
  ServerFrames,
  startBridge,
  startScriptedServer,
  waitForCount,
} from "./_helpers.ts";
import { makeCerts } from "../../scripts/testing/certs.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const enc = new TextEncoder();
const ENDED = /session end|WebSocket failed|local side left/;

type Ending =
  | "refuse" // server answers 403
  | "hang" // server never answers the handshake (connect timeout)
  | "echo" // local EOF after an echo; close 1000 both ways
  | "abrupt" // local closes mid-transfer
  | "unread" // local closes with unread data (the kernel sends RST)
  | "close" // server sends close
  | "drop" // server drops TCP without a close frame
  | "protocol" // server sends a reserved opcode
  | "silent" // server never answers our close (close wait expires)
  | "deaf"; // server ignores pings (ping timeout)

/** The same schedule drives the server (by connection index) and the client. */
function ending(i: number): Ending {
  if (i % 25 === 7) return "refuse";
  if (i % 100 === 13) return "hang";
  if (i === 50) return "silent";
  if (i === 60) return "deaf";
  return (["echo", "abrupt", "unread", "close", "drop", "protocol"] as const)[i % 6];
}

async function serverSide(conn: Deno.Conn, head: string, i: number): Promise<void> {
  const e = ending(i);
  if (e === "refuse") {
    await writeAll(conn, enc.encode("HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\nnope\r\n"));
    return;
  }
  if (e === "hang") {
    await readToEof(conn);
    return;
  }
  await accept101(conn, head);
  const f = new ServerFrames(conn);
  switch (e) {
    case "echo":
    case "abrupt":
      for (let ev = await f.next(); ev; ev = await f.next()) {
        if (ev.kind === "data") await f.sendBinary(ev.bytes!);
        else if (ev.kind === "ping") await f.send(Opcode.Pong, ev.bytes!);
        else if (ev.kind === "close") {
          await f.send(Opcode.Close, closePayload(ev.code!));
          return;
        }
      }
      return;
    case "unread": {
      await f.next();
      const chunk = randomBytes(65536);
      for (let k = 0; k < 16; k++) await f.sendBinary(chunk);
      for (let ev = await f.next(); ev; ev = await f.next()) {
        if (ev.kind === "close") return await f.send(Opcode.Close, closePayload(ev.code!));
      }
      return;
    }
    case "close": {
      const ev = await f.next();
      await f.sendBinary(ev!.bytes!);
      await f.send(Opcode.Close, closePayload(CloseCode.Normal, "bye"));
      while (await f.next()) { /* the reply, then EOF */ }
      return;
    }
    case "drop":
      await f.next();
      return; // the helper closes the TCP connection: no close frame
    case "protocol":
      await f.next();
      await writeAll(conn, new Uint8Array([0x83, 0])); // reserved opcode 3
      while (await f.next()) { /* close 1002, then EOF */ }
      return;
    case "silent":
    case "deaf":
      await readToEof(conn); // answers nothing, not even pongs or close
      return;
  }
}

async function clientSide(port: number, i: number): Promise<void> {
  const e = ending(i);
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    switch (e) {
      case "echo": {
        const data = randomBytes(1000);
        await writeAll(c, data);
        assert.deepEqual(await readExactly(c, data.length), data);
        await c.closeWrite();
        assert.equal((await readToEof(c)).length, 0);
        return;
      }
      case "abrupt":
        // Not awaited: the point is closing while bytes are in flight.
        writeAll(c, randomBytes(200_000)).catch(() => {});
        await new Promise((r) => setTimeout(r, 2));
        return;
      case "unread":
        await writeAll(c, enc.encode("u"));
        await readExactly(c, 10_000);
        return; // closed below with about 1 MB unread
      case "silent":
        await writeAll(c, enc.encode("s"));
        await c.closeWrite();
        await readToEof(c);
        return;
      default:
        await writeAll(c, enc.encode(e.slice(0, 1) + "0123456789"));
        await readToEof(c);
        return;
    }
  } catch (err) {
    // Writes may fail where the bridge already hung up (refused handshakes).
    if (e !== "refuse" && e !== "hang") throw err;
  } finally {
    c.close();
  }
}

async function leakRun(url: string, count: number, extra: string[]) {
  const port = freePort();
  const bridge = await startBridge([
    String(port),
    url,
    "--connect-timeout",
    "2",
    "--ping-interval",
    "0.2",
    "--ping-timeout",
    "0.4",
    ...extra,
  ]);
  try {
    const before = countFds(bridge.pid);
    for (let i = 0; i < count; i++) {
      // Strictly one after the other, so the server's connection index is the client's.
      await waitForCount(bridge, ENDED, i, 30000, 10);
      // A stuck session must fail the test with what the bridge said, not hang it.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stuck = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(
            new Error(
              `connection ${i} (${ending(i)}) stuck; bridge:\n${bridge.output().slice(-2000)}`,
            ),
          );
        }, 15000);
      });
      try {
        await Promise.race([clientSide(port, i), stuck]);
      } finally {
        clearTimeout(timer);
      }
    }
    await waitForCount(bridge, ENDED, count);
    // Closing is asynchronous in places (node sockets): give it a moment.
    let after = countFds(bridge.pid);
    for (let t = 0; t < 40 && after.sockets > before.sockets; t++) {
      await new Promise((r) => setTimeout(r, 50));
      after = countFds(bridge.pid);
    }
    const out = bridge.output();
    // Every ending happened as planned.
    assert.match(out, /code=1000 reason="local side closed"/);
    assert.match(out, /code=1001 reason="local connection lost"/);
    assert.match(out, /code=1000 reason="server closed: bye"/);
    assert.match(out, /code=1006 reason="server closed the connection without a close frame"/);
    assert.match(out, /code=1002 reason="server broke the protocol: unknown opcode 3"/);
    assert.match(out, /HTTP 403 Forbidden/);
    assert.match(out, /did not answer the handshake within 2s/);
    assert.match(out, /no close reply from the server/);
    assert.match(out, /no answer to a ping within 0.4s/);
    // Only the listener (and whatever the runtime held before) is left.
    assert.ok(
      after.sockets <= before.sockets,
      `sockets before ${before.sockets}, after ${after.sockets}`,
    );
    assert.ok(after.total <= before.total + 3, `fds before ${before.total}, after ${after.total}`);
  } finally {
    await bridge.stop();
  }
}

Deno.test({
  name: "bridge leak test: 200 ws:// sessions with mixed endings leave only the listener",
  ...opts,
  async fn() {
    const server = startScriptedServer(serverSide);
    try {
      await leakRun(`ws://127.0.0.1:${server.port}/`, 200, []);
    } finally {
      await server.close();
    }
  },
});

Deno.test({
  name: "bridge leak test: 100 wss:// sessions (node:tls) with mixed endings",
  ignore: skipUnless("openssl", "apt-get install openssl"),
  ...opts,
  async fn() {
    const certs = await makeCerts();
    const server = startScriptedServer(serverSide, {
      tls: {
        cert: await Deno.readTextFile(certs.serverCert),
        key: await Deno.readTextFile(certs.serverKey),
      },
    });
    try {
      await leakRun(`wss://localhost:${server.port}/`, 100, ["--ca", certs.ca]);
    } finally {
      await server.close();
      await Deno.remove(certs.dir, { recursive: true });
    }
  },
});
