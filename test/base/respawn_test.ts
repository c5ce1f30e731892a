import assert from "node:assert/strict";
import { RespawnThrottle } from "../../src/base/respawn.ts";

Deno.test("RespawnThrottle: two quick restarts at once, then one per throttle/3 on average", () => {
  let now = 1_000_000;
  const t = new RespawnThrottle(10, () => now);
  t.started();
  assert.equal(t.waitMs(), 0);
  now += 100;
  t.started();
  assert.equal(t.waitMs(), 0);
  now += 100;
  t.started();
  // Three starts within 0.2 s: the mean is 0.1 s ago, so wait 9.9 s.
  assert.equal(t.waitMs(), 9900);
  now += 9900;
  assert.equal(t.waitMs(), 0);
  // A process that ran long comes back at once.
  const u = new RespawnThrottle(10, () => now);
  u.started();
  now += 60_000;
  assert.equal(u.waitMs(), 0);
});
