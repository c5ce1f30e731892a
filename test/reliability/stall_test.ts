/**
 * Slow and stalled peers: clients that stop reading while their targets
 * flood, and targets that stop reading while their clients flood. vncws
 * must hold each direction with backpressure (RSS within a bound plus about
 * 1 MiB per session) while a normal session beside them is served.
 */
import assert from "node:assert/strict";
import { freePort, startVncws } from "../../scripts/testing/util.ts";
import { randomBytes, wsConnect } from "../../scripts/testing/ws_client.ts";
import { closeQuietly, listenTcp, startEchoTarget } from "../../scripts/testing/targets.ts";
import { encodeFrame, Opcode } from "../../src/ws/frame.ts";
import { fdCount, mib, rssBytes, settleTo } from "../../scripts/testing/proc.ts";
import { upgradeRequest, writeText } from "./_net.ts";
import { writeAll } from "../../scripts/testing/util.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const SESSIONS = 20;

/** A target that floods each connection until its writes block, counting bytes. */
function startFloodTarget() {
  let written = 0;
  const chunk = new Uint8Array(256 * 1024);
  const server = listenTcp(async (c) => {
    for (;;) written += await c.write(chunk);
  });
  return { port: server.port, written: () => written, close: server.close };
}

/**
 * Waits until `read()` stops growing for `quietMs` (every pipe is full).
 * Without backpressure vncws would keep reading and it would never stop.
 */
async function plateau(read: () => number, quietMs = 1500, maxMs = 30000): Promise<number> {
  const end = Date.now() + maxMs;
  let last = read();
  let since = Date.now();
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 200));
    const v = read();
    if (v !== last) {
      last = v;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return last;
  }
  throw new Error(`the flood never stopped (${mib(last)} MiB): vncws is not applying backpressure`);
}

/** One normal session beside the stalled ones: banner, then an echo of 200 KiB. */
async function normalSessionWorks(port: number): Promise<void> {
  const ws = await wsConnect(port);
  try {
    assert.equal(ws.response.status, 101);
    await ws.readBytes(12);
    const data = randomBytes(200000);
    await ws.sendBinary(data);
    assert.deepEqual(await ws.readBytes(data.length), data);
  } finally {
    ws.close();
  }
}

Deno.test({
  name: `stall: ${SESSIONS} clients stop reading while their targets flood; RSS stays bounded`,
  ...opts,
  async fn() {
    const flood = startFloodTarget();
    const echo = startEchoTarget();
    const port = freePort();
    const port2 = freePort();
    const vncws = await startVncws([`127.0.0.1:${port}`, `127.0.0.1:${flood.port}`]);
    const helper = await startVncws([`127.0.0.1:${port2}`, `127.0.0.1:${echo.port}`]);
    const conns: Deno.Conn[] = [];
    try {
      // Warm up the code paths once, then take the baseline.
      const w = await Deno.connect({ hostname: "127.0.0.1", port });
      await writeText(w, upgradeRequest(port));
      await w.read(new Uint8Array(1 << 20));
      w.close();
      await new Promise((r) => setTimeout(r, 500));
      const fdsBefore = fdCount(vncws.pid);
      const base = rssBytes(vncws.pid);
      for (let i = 0; i < SESSIONS; i++) {
        const c = await Deno.connect({ hostname: "127.0.0.1", port });
        await writeText(c, upgradeRequest(port));
        conns.push(c); // never read again
      }
      const flooded = await plateau(flood.written);
      const peak = rssBytes(vncws.pid);
      console.log(
        `stalled readers: target wrote ${mib(flooded)} MiB into ${SESSIONS} sessions; ` +
          `vncws RSS ${mib(base)} → ${mib(peak)} MiB`,
      );
      // Kernel socket buffers hold the flood, not vncws: 16 MiB slack + 1 MiB per session.
      assert.ok(
        peak <= base + (16 + SESSIONS) * 1048576,
        `RSS grew by ${mib(peak - base)} MiB with ${SESSIONS} stalled sessions`,
      );
      await normalSessionWorks(port2);
      // The port itself still serves (a non-upgrade request is answered) while stalled.
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      await writeText(c, "GET /vnc.html HTTP/1.1\r\nHost: x\r\n\r\n");
      const buf = new Uint8Array(64);
      const n = await c.read(buf);
      c.close();
      assert.match(new TextDecoder().decode(buf.subarray(0, n ?? 0)), /^HTTP\/1\.1 200/);
      for (const c of conns) c.close();
      const fdsAfter = await settleTo(() => fdCount(vncws.pid), fdsBefore);
      assert.ok(fdsAfter <= fdsBefore, `fds ${fdsBefore} before, ${fdsAfter} after`);
    } finally {
      for (const c of conns) closeQuietly(c);
      await vncws.stop();
      await helper.stop();
      await flood.close();
      await echo.close();
    }
  },
});

Deno.test({
  name: `stall: ${SESSIONS} targets stop reading while their clients flood; RSS stays bounded`,
  ...opts,
  async fn() {
    const deaf = listenTcp(); // accepts and never reads
    const port = freePort();
    const vncws = await startVncws([`127.0.0.1:${port}`, `127.0.0.1:${deaf.port}`]);
    const conns: Deno.Conn[] = [];
    let sent = 0;
    try {
      // Warm up with one whole session (some fds are opened lazily), then take the baseline.
      const w = await Deno.connect({ hostname: "127.0.0.1", port });
      await writeText(w, upgradeRequest(port));
      await w.read(new Uint8Array(4096));
      w.close();
      await new Promise((r) => setTimeout(r, 300));
      deaf.dropAll();
      await new Promise((r) => setTimeout(r, 500));
      const fdsBefore = fdCount(vncws.pid);
      const base = rssBytes(vncws.pid);
      const frame = encodeFrame(Opcode.Binary, new Uint8Array(65536), {
        mask: new Uint8Array([1, 2, 3, 4]),
      });
      const floods: Promise<void>[] = [];
      for (let i = 0; i < SESSIONS; i++) {
        const c = await Deno.connect({ hostname: "127.0.0.1", port });
        await writeText(c, upgradeRequest(port));
        conns.push(c);
        floods.push((async () => {
          try {
            for (;;) {
              await writeAll(c, frame);
              sent += frame.length;
            }
          } catch { /* closed at the end */ }
        })());
      }
      const flooded = await plateau(() => sent);
      const peak = rssBytes(vncws.pid);
      console.log(
        `stalled targets: clients wrote ${mib(flooded)} MiB into ${SESSIONS} sessions; ` +
          `vncws RSS ${mib(base)} → ${mib(peak)} MiB`,
      );
      assert.ok(
        peak <= base + (16 + SESSIONS) * 1048576,
        `RSS grew by ${mib(peak - base)} MiB with ${SESSIONS} stalled targets`,
      );
      for (const c of conns) c.close();
      await Promise.all(floods);
      // vncws is blocked writing to the deaf targets, so it cannot see the clients leave
      // (--session-idle-timeout covers that, see faults_test.ts); the targets going ends it.
      await deaf.close();
      const fdsAfter = await settleTo(() => fdCount(vncws.pid), fdsBefore);
      assert.ok(fdsAfter <= fdsBefore, `fds ${fdsBefore} before, ${fdsAfter} after`);
    } finally {
      for (const c of conns) closeQuietly(c);
      await vncws.stop();
      await deaf.close();
    }
  },
});
