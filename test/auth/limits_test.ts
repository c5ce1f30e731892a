import assert from "node:assert/strict";
import { createLimiter, type LimitSlot } from "../../src/auth/limits.ts";
import { isRefusal } from "../../src/auth/refusal.ts";

Deno.test("per-IP and per-token concurrency limits with release", () => {
  const l = createLimiter({ maxPerIp: 2, maxPerToken: 3 });
  const a1 = l.acquire("1.1.1.1", "tok");
  const a2 = l.acquire("1.1.1.1", "tok");
  assert.ok(!isRefusal(a1) && !isRefusal(a2));
  const a3 = l.acquire("1.1.1.1", "tok");
  assert.ok(isRefusal(a3));
  assert.equal(a3.status, 429);
  assert.match(a3.reason, /concurrent connections from 1\.1\.1\.1/);
  const b1 = l.acquire("2.2.2.2", "tok");
  assert.ok(!isRefusal(b1));
  const b2 = l.acquire("2.2.2.2", "tok");
  assert.ok(isRefusal(b2) && b2.status === 429 && /this token/.test(b2.reason));
  const b3 = l.acquire("2.2.2.2", "other");
  assert.ok(!isRefusal(b3));
  (a1 as LimitSlot).release();
  (a1 as LimitSlot).release(); // idempotent
  assert.equal(l.activeForIp("1.1.1.1"), 1);
  assert.ok(!isRefusal(l.acquire("1.1.1.1", "tok")));
  // No token: only the IP limit applies.
  const l2 = createLimiter({ maxPerToken: 1 });
  for (let i = 0; i < 5; i++) assert.ok(!isRefusal(l2.acquire("3.3.3.3")));
});

Deno.test("handshake rate per IP: a burst beyond the bucket gets 429, others unaffected", async () => {
  const l = createLimiter({ handshakeRatePerIp: 5 });
  const results = Array.from({ length: 20 }, () => l.acquire("4.4.4.4"));
  const refused = results.filter(isRefusal);
  // The bucket holds 5; a few more may trickle in if the loop straddles a refill.
  assert.ok(refused.length >= 10 && refused.length <= 15, `refused ${refused.length}`);
  assert.equal(refused[0].status, 429);
  assert.equal(refused[0].headers?.["Retry-After"], "1");
  assert.ok(!isRefusal(l.acquire("5.5.5.5")));
  // After the bucket refills, connections are accepted again.
  await new Promise((r) => setTimeout(r, 400));
  assert.ok(!isRefusal(l.acquire("4.4.4.4")));
  // Slots granted under a rate limit are normal slots.
  for (const r of results) if (!isRefusal(r)) r.release();
  assert.equal(l.activeForIp("4.4.4.4"), 1);
});

Deno.test("no options: no limits", () => {
  const l = createLimiter({});
  for (let i = 0; i < 1000; i++) assert.ok(!isRefusal(l.acquire("6.6.6.6", "t")));
});
