/**
 * Soak: concurrent sessions with random sizes both ways through a real
 * vncws; every byte checked; RSS flat after warm-up; fds back to the
 * baseline. Small here (100 sessions × 6 s); `deno task fuzz --soak` or
 * VNCWS_SOAK=1 runs 1000 sessions for minutes.
 */
import assert from "node:assert/strict";
import { attributeSilent, runSoak } from "../../scripts/testing/soak.ts";

const big = Deno.env.get("VNCWS_SOAK") === "1";
const sessions = big ? 1000 : 100;
const seconds = big ? 180 : 6;

Deno.test({
  name: `soak: ${sessions} concurrent sessions for ${seconds} s, every byte checked`,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const r = await runSoak({ sessions, seconds, log: big ? console.log : undefined });
    console.log(JSON.stringify(r));
    assert.equal(r.failedSessions, 0, r.firstError);
    assert.ok(r.sessions >= sessions, `only ${r.sessions} sessions completed`);
    assert.equal(r.lost, 0, "bytes lost");
    assert.equal(r.corrupted, 0, "sessions with a wrong or reordered byte");
    assert.equal(r.badClose, 0, "sessions not closed with 1000 after the target closed");
    // Flat: after warm-up, RSS grows by less than 64 MiB (V8's heap still settles in a
    // 6 s run; a per-session leak of one 64 KiB buffer would add 70+ MiB over the
    // 1000+ sessions run here, two buffers 140+ MiB).
    assert.ok(
      r.rssLateMaxMiB <= r.rssWarmMiB + 64,
      `RSS grew from ${r.rssWarmMiB.toFixed(1)} MiB after warm-up to ${
        r.rssLateMaxMiB.toFixed(1)
      } MiB`,
    );
    assert.ok(r.fdsAfter <= r.fdsBefore, `fds: ${r.fdsBefore} before, ${r.fdsAfter} after`);
  },
});

Deno.test("attributeSilent: a silent close is the driver's when its request came later", () => {
  const log = [
    "2026-11-23T03:00:10.000Z INFO  closed a silent connection client=127.0.0.1:40001 why=x",
    "2026-11-23T03:00:10.000Z INFO  closed a silent connection client=127.0.0.1:40002 why=x",
    "2026-11-23T03:00:11.000Z INFO  session end client=127.0.0.1:40003",
  ].join("\n");
  const t = Date.parse("2026-11-23T03:00:10.000Z");
  const requests = new Map([[40001, t + 2500], [40002, t - 4000], [40003, t]]);
  assert.deepEqual(attributeSilent(log, requests), {
    silentBeforeRequest: 1,
    silentAfterRequest: 1,
    silentRequestLateMaxMs: 2500,
  });
});
