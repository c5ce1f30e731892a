import assert from "node:assert/strict";
import { Deadlines } from "../../src/base/deadlines.ts";
import { waitUntil } from "../../scripts/testing/util.ts";

Deno.test("deadlines run in time order from one timer, and none is left armed after the last", async () => {
  const q = new Deadlines();
  const ran: string[] = [];
  const now = Date.now();
  q.at(now + 30, () => ran.push("c"));
  q.at(now + 10, () => ran.push("a"));
  q.at(now + 20, () => ran.push("b"));
  assert.equal(q.size, 3);
  await waitUntil(() => q.size === 0, "every deadline ran", 15_000, 5);
  assert.deepEqual(ran, ["a", "b", "c"]);
  assert.equal(q.size, 0); // the test's timer sanitizer also fails if a timer stayed armed
});

Deno.test("a cancelled deadline never runs; cancelling the last one clears the timer", async () => {
  const q = new Deadlines();
  const ran: string[] = [];
  const keep = q.after(10, () => ran.push("kept"));
  const drop = q.after(5, () => ran.push("dropped"));
  q.cancel(drop);
  q.cancel(drop); // twice is harmless
  await waitUntil(() => q.size === 0, "the kept deadline ran", 15_000, 5);
  assert.deepEqual(ran, ["kept"]);
  q.cancel(keep); // already ran: harmless
  const never = q.after(1000, () => ran.push("never"));
  q.cancel(never); // the only one: the timer goes too (the sanitizer would see a leak)
  assert.equal(q.size, 0);
});

Deno.test("a deadline scheduled from a running one, and many removed from the middle", async () => {
  const q = new Deadlines();
  const ran: number[] = [];
  const due = (i: number) => 5 + (i * 7) % 20;
  const now = Date.now();
  const all = Array.from({ length: 50 }, (_, i) => q.at(now + due(i), () => ran.push(i)));
  for (let i = 0; i < 50; i += 3) q.cancel(all[i]);
  q.after(1, () => q.after(1, () => ran.push(-1)));
  await waitUntil(() => ran.includes(-1) && q.size === 0, "every deadline ran", 15_000, 5);
  const expected = Array.from({ length: 50 }, (_, i) => i).filter((i) => i % 3 !== 0);
  assert.deepEqual(ran.filter((i) => i >= 0).sort((a, b) => a - b), expected);
  assert.ok(ran.includes(-1));
  // time order: each ran no earlier than the one before it was due
  const order = ran.filter((i) => i >= 0);
  for (let k = 1; k < order.length; k++) assert.ok(due(order[k - 1]) <= due(order[k]));
});
