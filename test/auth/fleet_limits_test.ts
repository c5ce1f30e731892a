import assert from "node:assert/strict";
import { createFleetLimiter, type SlotClaim, type SlotStore } from "../../src/auth/fleet_limits.ts";
import { createLimiter, type LimitSlot } from "../../src/auth/limits.ts";
import { isRefusal } from "../../src/auth/refusal.ts";

/** A store in memory with the real one's contract: check and add in one step. */
class FakeStore implements SlotStore {
  up = true;
  /** What take() does: answer, throw, or never answer. */
  mode: "answer" | "fail" | "hang" = "answer";
  readonly sets = new Map<string, Set<string>>();
  readonly held = new Map<string, string[]>();
  takes = 0;
  #n = 0;
  member(): string {
    return `r#${++this.#n}`;
  }
  take(claims: SlotClaim[], member: string): Promise<number> {
    this.takes++;
    if (this.mode === "fail") return Promise.reject(new Error("ECONNREFUSED"));
    if (this.mode === "hang") return new Promise(() => {});
    const full = claims.findIndex((c) => (this.sets.get(c.key)?.size ?? 0) >= c.max);
    if (full < 0) {
      for (const c of claims) {
        const s = this.sets.get(c.key) ?? new Set();
        s.add(member);
        this.sets.set(c.key, s);
      }
    }
    return Promise.resolve(full);
  }
  keep(keys: string[], member: string): void {
    this.held.set(member, keys);
  }
  give(keys: string[], member: string): void {
    this.held.delete(member);
    for (const k of keys) this.sets.get(k)?.delete(member);
  }
  /** Another replica's session. */
  other(key: string, member: string): void {
    const s = this.sets.get(key) ?? new Set();
    s.add(member);
    this.sets.set(key, s);
  }
}

const options = { maxPerIp: 2, maxPerToken: 1, timeoutMs: 50 };

Deno.test("fleet limits: another replica's sessions count; freed slots admit again", async () => {
  const store = new FakeStore();
  const fleet = createFleetLimiter(createLimiter(options), store, options);
  store.other("token:abc", "elsewhere#1");
  const refused = await fleet.hold("10.0.0.1", "abc");
  assert.ok(isRefusal(refused) && refused.status === 429 && /this token/.test(refused.reason));
  // The local slot taken first was given back: the same client may open another token.
  const ok = await fleet.hold("10.0.0.1", "def");
  assert.ok(!isRefusal(ok));
  assert.deepEqual([...store.held.values()], [["ip:10.0.0.1", "token:def"]]);
  store.give(["token:abc"], "elsewhere#1");
  const now = await fleet.hold("10.0.0.1", "abc");
  assert.ok(!isRefusal(now), "admitted once the other replica's session ended");
  // Per IP across the fleet: two already.
  const third = await fleet.hold("10.0.0.1", "ghi");
  assert.ok(isRefusal(third) && /from 10\.0\.0\.1/.test(third.reason));
  (ok as LimitSlot).release();
  (ok as LimitSlot).release(); // idempotent
  assert.equal(store.sets.get("ip:10.0.0.1")?.size, 1);
  assert.equal(store.held.size, 1);
});

Deno.test("fleet limits: without limits or a token nothing is asked of the store", async () => {
  const store = new FakeStore();
  const fleet = createFleetLimiter(createLimiter({}), store, {
    maxPerIp: 0,
    maxPerToken: 0,
    timeoutMs: 50,
  });
  assert.ok(!isRefusal(await fleet.hold("10.0.0.1", "abc")));
  assert.equal(store.takes, 0);
  const tokenOnly = createFleetLimiter(createLimiter({ maxPerToken: 1 }), store, {
    maxPerIp: 0,
    maxPerToken: 1,
    timeoutMs: 50,
  });
  assert.ok(!isRefusal(await tokenOnly.hold("10.0.0.1")), "no token: no token claim");
  assert.equal(store.takes, 0);
});

Deno.test("fleet limits: a store that is down, fails or hangs admits on this replica's count", async () => {
  for (const mode of ["down", "fail", "hang"] as const) {
    const store = new FakeStore();
    if (mode === "down") store.up = false;
    else store.mode = mode;
    const fleet = createFleetLimiter(createLimiter(options), store, options);
    store.other("token:abc", "elsewhere#1"); // the store cannot say so now
    const first = await fleet.hold("10.0.0.1", "abc");
    assert.ok(!isRefusal(first), `${mode}: admitted`);
    assert.equal(store.takes, mode === "down" ? 0 : 1, `${mode}: no wait while known down`);
    // Held, to be written once the store answers again.
    assert.equal(store.held.size, 1, mode);
    // The local limit still holds.
    const second = await fleet.hold("10.0.0.1", "abc");
    assert.ok(isRefusal(second) && second.status === 429, `${mode}: local count refuses`);
    (first as LimitSlot).release();
    assert.equal(store.held.size, 0, `${mode}: given back`);
  }
});
