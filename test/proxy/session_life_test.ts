/**
 * The per-server session watcher with a fake clock and fake token lookups:
 * what ends a session (time limit, expiry, revoked token), what does not
 * (a valid token, a failing backend, a session that already ended), and
 * that nothing is watched when nothing can end it.
 */
import assert from "node:assert/strict";
import {
  createSessionLife,
  POLICY_CLOSE,
  TIME_LIMIT,
  TOKEN_EXPIRED,
  TOKEN_REVOKED,
} from "../../src/proxy/session_life.ts";
import { CloseRequest } from "../../src/ws/relay.ts";

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

function reasonOf(signal: AbortSignal): string | undefined {
  if (!signal.aborted) return undefined;
  assert.ok(signal.reason instanceof CloseRequest);
  assert.equal(signal.reason.code, POLICY_CLOSE);
  return signal.reason.reason;
}

Deno.test("--max-session: the session ends at its limit, not before", async () => {
  const c = clock();
  const life = createSessionLife({ maxSession: 5, tokenRecheck: 0, now: c.now, tickMs: 0 });
  const w = life.watch({})!;
  c.advance(4999);
  await life.tick();
  assert.equal(reasonOf(w.signal), undefined);
  c.advance(1);
  await life.tick();
  assert.equal(reasonOf(w.signal), TIME_LIMIT);
  assert.equal(life.size, 0);
});

Deno.test("nothing to watch: no limit, no expiry, no recheck → no watch", () => {
  const life = createSessionLife({ maxSession: 0, tokenRecheck: 30, tickMs: 0 });
  assert.equal(life.watch({}), undefined);
  // A recheck function with --token-recheck 0 is not watched either.
  const off = createSessionLife({ maxSession: 0, tokenRecheck: 0, tickMs: 0 });
  assert.equal(off.watch({ recheck: () => Promise.resolve(true) }), undefined);
});

Deno.test("expiresAt: the session ends at the token's expiry, without a recheck", async () => {
  const c = clock();
  const life = createSessionLife({ maxSession: 0, tokenRecheck: 0, now: c.now, tickMs: 0 });
  const w = life.watch({ expiresAt: c.now() + 2000 })!;
  const other = life.watch({ expiresAt: c.now() + 60_000 })!;
  c.advance(1999);
  await life.tick();
  assert.equal(reasonOf(w.signal), undefined);
  c.advance(1);
  await life.tick();
  assert.equal(reasonOf(w.signal), TOKEN_EXPIRED);
  assert.equal(reasonOf(other.signal), undefined);
});

Deno.test("recheck: a revoked token ends its session; a valid one stays", async () => {
  const c = clock();
  const valid = new Set(["a", "b"]);
  const lookups: string[] = [];
  const recheck = (token: string) => () => {
    lookups.push(token);
    return Promise.resolve(valid.has(token));
  };
  const life = createSessionLife({ maxSession: 0, tokenRecheck: 30, now: c.now, tickMs: 0 });
  const a = life.watch({ recheck: recheck("a") })!;
  const b = life.watch({ recheck: recheck("b") })!;
  valid.delete("a");
  c.advance(29_000);
  await life.tick();
  assert.deepEqual(lookups, [], "not due yet");
  c.advance(1000);
  await life.tick();
  assert.deepEqual(lookups.sort(), ["a", "b"]);
  assert.equal(reasonOf(a.signal), TOKEN_REVOKED);
  assert.equal(reasonOf(b.signal), undefined);
  assert.equal(life.size, 1);
});

Deno.test("recheck: a token that fails once it expired is 'token expired', not revoked", async () => {
  const c = clock();
  const life = createSessionLife({ maxSession: 0, tokenRecheck: 1, now: c.now, tickMs: 0 });
  // The expiry check runs before the recheck in a tick; the lookup's clock moves past it.
  const w = life.watch({
    expiresAt: c.now() + 1500,
    recheck: () => {
      c.advance(1000);
      return Promise.resolve(false);
    },
  })!;
  c.advance(1000);
  await life.tick();
  assert.equal(reasonOf(w.signal), TOKEN_EXPIRED);
});

Deno.test("recheck: a failing backend keeps the sessions; a stopped session is not looked up", async () => {
  const c = clock();
  let calls = 0;
  const life = createSessionLife({ maxSession: 0, tokenRecheck: 1, now: c.now, tickMs: 0 });
  const w = life.watch({
    recheck: () => {
      calls++;
      return Promise.reject(new Error("backend down"));
    },
  })!;
  const gone = life.watch({
    recheck: () => {
      calls += 100;
      return Promise.resolve(false);
    },
  })!;
  gone.stop();
  for (let i = 0; i < 3; i++) {
    c.advance(1000);
    await life.tick();
  }
  assert.equal(calls, 3);
  assert.equal(reasonOf(w.signal), undefined);
  assert.equal(reasonOf(gone.signal), undefined);
  w.stop();
  assert.equal(life.size, 0);
});

Deno.test("one timer walks every session: thousands of watches end on time", async () => {
  const life = createSessionLife({ maxSession: 1, tokenRecheck: 0, tickMs: 50 });
  const watches = Array.from({ length: 10_000 }, () => life.watch({})!);
  const all = Promise.all(
    watches.map((w) => new Promise((resolve) => w.signal.addEventListener("abort", resolve))),
  );
  // The walker's timer is unref'd (sessions hold a process, not it): hold this test open.
  const hold = setTimeout(() => {}, 30_000);
  await all;
  clearTimeout(hold);
  assert.ok(watches.every((w) => reasonOf(w.signal) === TIME_LIMIT));
  assert.equal(life.size, 0);
});

Deno.test("a token's max_duration: ends the session alone, and the shorter of it and --max-session wins", async () => {
  const c = clock();
  const own = createSessionLife({ maxSession: 0, tokenRecheck: 0, now: c.now, tickMs: 0 });
  const timed = own.watch({ maxDuration: 3 })!;
  // Without one (or 0 = none of its own) nothing ends the session: no watch at all.
  assert.equal(own.watch({}), undefined);
  assert.equal(own.watch({ maxDuration: 0 }), undefined);
  c.advance(2999);
  await own.tick();
  assert.equal(reasonOf(timed.signal), undefined);
  c.advance(1);
  await own.tick();
  assert.equal(reasonOf(timed.signal), TIME_LIMIT);

  const both = createSessionLife({ maxSession: 10, tokenRecheck: 0, now: c.now, tickMs: 0 });
  const shorterToken = both.watch({ maxDuration: 4 })!;
  const longerToken = both.watch({ maxDuration: 60 })!;
  const none = both.watch({})!;
  c.advance(4000);
  await both.tick();
  assert.equal(reasonOf(shorterToken.signal), TIME_LIMIT);
  assert.equal(reasonOf(longerToken.signal), undefined);
  assert.equal(reasonOf(none.signal), undefined);
  c.advance(6000);
  await both.tick();
  assert.equal(reasonOf(longerToken.signal), TIME_LIMIT, "--max-session is shorter here");
  assert.equal(reasonOf(none.signal), TIME_LIMIT);
});
