import assert from "node:assert/strict";
import { onAbort, raceTimeout, StopGroup, STOPPED, TIMEOUT } from "../../src/base/time.ts";

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

Deno.test("onAbort: every callback runs once on abort; a cancelled one does not", () => {
  const ac = new AbortController();
  const ran: string[] = [];
  const offs = ["a", "b", "c"].map((k) => onAbort(ac.signal, () => ran.push(k)));
  offs[1](); // cancelled before the abort
  ac.abort();
  ac.abort(); // a second abort runs nothing again
  assert.deepEqual(ran, ["a", "c"]);
  offs[0](); // after the abort: harmless
});

Deno.test("onAbort on a signal already aborted runs at once; on one never aborted, never", () => {
  const ran: string[] = [];
  onAbort(AbortSignal.abort(), () => ran.push("now"));
  assert.deepEqual(ran, ["now"]);
  const off = onAbort(new AbortController().signal, () => ran.push("never"));
  off();
  assert.deepEqual(ran, ["now"]);
});
