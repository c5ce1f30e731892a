/**
 * Slowloris: 1000 connections that send one byte and go silent, or dribble
 * a request head a byte at a time, while a real client connects. The real
 * client is served (its latency is printed for docs/reliability.md; no
 * timing assertion), and every slow connection gets 408 and is closed at
 * --head-timeout.
 */
import assert from "node:assert/strict";
import { freePort, startVncws } from "../../scripts/testing/util.ts";
import { randomBytes, wsConnect } from "../../scripts/testing/ws_client.ts";
import { startEchoTarget } from "../../scripts/testing/targets.ts";
import { fdCount, raiseFdLimit, settleTo } from "../../scripts/testing/proc.ts";

const SLOW = 1000;
const HEAD_TIMEOUT = 3;
const dec = new TextDecoder();

Deno.test({
  name:
    `slowloris: ${SLOW} slow connections; a real client is served; all closed at the head timeout`,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const echo = startEchoTarget();
    const port = freePort();
    const vncws = await startVncws([
      `127.0.0.1:${port}`,
      `127.0.0.1:${echo.port}`,
      "--head-timeout",
      String(HEAD_TIMEOUT),
    ]);
    await raiseFdLimit(vncws.pid);
    const conns: Deno.Conn[] = [];
    let dribbling = true;
    try {
      const fds = fdCount(vncws.pid);
      const opened = Date.now();
      for (let i = 0; i < SLOW; i++) {
        const c = await Deno.connect({ hostname: "127.0.0.1", port });
        conns.push(c);
        await c.write(new TextEncoder().encode("G"));
      }
      // Half of them dribble the rest of a head, one byte every 500 ms.
      const rest = new TextEncoder().encode("ET / HTTP/1.1\r\nHost: x\r\nX-Slow: ");
      const dribblers = conns.filter((_, i) => i % 2 === 1).map(async (c) => {
        for (let i = 0; dribbling; i++) {
          await new Promise((r) => setTimeout(r, 500));
          try {
            await c.write(rest.subarray(i % rest.length, (i % rest.length) + 1));
          } catch {
            return;
          }
        }
      });
      // The slow ones hold vncws's connection slots now; a real client arrives.
      const t0 = performance.now();
      const ws = await wsConnect(port);
      const t101 = performance.now();
      assert.equal(ws.response.status, 101);
      assert.equal(dec.decode(await ws.readBytes(12)), "RFB 003.008\n");
      const tBanner = performance.now();
      const data = randomBytes(100000);
      await ws.sendBinary(data);
      assert.deepEqual(await ws.readBytes(data.length), data);
      const tEcho = performance.now();
      console.log(
        `real client among ${SLOW} slow connections: 101 after ${(t101 - t0).toFixed(1)} ms, ` +
          `banner after ${(tBanner - t0).toFixed(1)} ms, 100 KB echo after ${
            (tEcho - t0).toFixed(1)
          } ms`,
      );
      // Every slow connection gets 408 and EOF; none outlives the timeout by much.
      const answers = await Promise.all(conns.map(async (c) => {
        let text = "";
        const buf = new Uint8Array(1024);
        for (;;) {
          const n = await c.read(buf).catch(() => null);
          if (n === null) break;
          text += dec.decode(buf.subarray(0, n));
        }
        return { status: text.slice(9, 12), at: Date.now() };
      }));
      dribbling = false;
      await Promise.all(dribblers);
      const statuses = new Map<string, number>();
      for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
      const last = Math.max(...answers.map((a) => a.at)) - opened;
      console.log(
        `slow connections answered: ${JSON.stringify(Object.fromEntries(statuses))}, ` +
          `the last closed ${(last / 1000).toFixed(1)} s after the first opened`,
      );
      assert.deepEqual(Object.fromEntries(statuses), { "408": SLOW });
      ws.close();
      const after = await settleTo(() => fdCount(vncws.pid), fds);
      assert.ok(after <= fds, `vncws fds ${fds} before, ${after} after`);
    } finally {
      dribbling = false;
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await vncws.stop();
      await echo.close();
    }
  },
});
