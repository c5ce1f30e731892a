import assert from "node:assert/strict";
import { raceTimeout, StopGroup, STOPPED, TIMEOUT } from "../../src/base/time.ts";

const never = new Promise<never>(() => {});

Deno.test("raceTimeout: the value, TIMEOUT, or STOPPED from a signal or a stop group", async () => {
  assert.equal(await raceTimeout(Promise.resolve(7), 1000), 7);
  assert.equal(await raceTimeout(never, 10), TIMEOUT);
  const ac = new AbortController();
  const bySignal = raceTimeout(never, 10_000, ac.signal);
  ac.abort();
  assert.equal(await bySignal, STOPPED);
  assert.equal(await raceTimeout(never, 10_000, ac.signal), STOPPED, "already aborted");
  const group = new StopGroup();
  const a = raceTimeout(never, 10_000, group);
  const b = raceTimeout(never, 10_000, group);
  group.stop();
  assert.deepEqual(await Promise.all([a, b]), [STOPPED, STOPPED]);
  assert.equal(await raceTimeout(never, 10_000, group), STOPPED, "already stopped");
});

Deno.test("StopGroup: a settled race leaves nothing behind; stop runs once", async () => {
  const group = new StopGroup();
  let calls = 0;
  const cancel = group.add(() => calls++);
  assert.equal(await raceTimeout(Promise.resolve(1), 10_000, group), 1);
  cancel();
  group.stop();
  group.stop();
  assert.equal(calls, 0, "a cancelled callback is not called");
  const group2 = new StopGroup();
  group2.add(() => calls++);
  group2.stop();
  group2.stop();
  assert.equal(calls, 1);
});
