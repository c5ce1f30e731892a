import assert from "node:assert/strict";
import { createSharedRate, type HandshakeRateStore } from "../../src/auth/fleet_limits.ts";
import { connectHostLimits, serveHostLimits } from "../../src/auth/limits_host.ts";
import { createLimiter } from "../../src/auth/limits.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const ip = (max: number) => [{ key: "ip:10.0.0.1", max }];

/** A parent's limits on a fresh socket, and `n` workers connected to it. */
async function host(n: number) {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/limits.sock`;
  const hub = serveHostLimits(path);
  const workers = await Promise.all(
    Array.from({ length: n }, (_, i) => connectHostLimits(path, i + 1)),
  );
  return {
    path,
    workers,
    async [Symbol.asyncDispose]() {
      for (const w of workers) w.close();
      hub.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Waits until the parent has read what was sent before (a request is answered in order). */
const settle = (w: { rate: HandshakeRateStore }) => w.rate.handshake("flush", 1000);

Deno.test({
  name: "host limits: one slot across two workers; given back, it is free again",
  ...opts,
  async fn() {
    await using h = await host(2);
    const [a, b] = h.workers;
    assert.ok(a.slots.up && b.slots.up);
    const m1 = a.slots.member();
    assert.equal(await a.slots.take(ip(1), m1), -1);
    // The other worker finds it full (negative case), for the first full claim's index.
    assert.equal(await b.slots.take(ip(1), b.slots.member()), 0);
    assert.equal(
      await b.slots.take([{ key: "token:t", max: 1 }, ...ip(1)], b.slots.member()),
      1,
    );
    a.slots.give(["ip:10.0.0.1"], m1);
    await settle(a);
    assert.equal(await b.slots.take(ip(1), b.slots.member()), -1);
  },
});

Deno.test({
  name: "host limits: a worker's slots are freed when its connection ends, not another's",
  ...opts,
  async fn() {
    await using h = await host(3);
    const [a, b, c] = h.workers;
    assert.equal(await a.slots.take(ip(2), a.slots.member()), -1);
    assert.equal(await b.slots.take(ip(2), b.slots.member()), -1);
    assert.equal(await c.slots.take(ip(2), c.slots.member()), 0);
    a.close(); // as when the worker process dies
    assert.ok(!a.slots.up);
    let taken = 0;
    for (let i = 0; i < 100 && taken !== -1; i++) {
      taken = await c.slots.take(ip(2), c.slots.member());
      if (taken !== -1) await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(taken, -1);
    // b's slot is still held: the set is full again.
    assert.equal(await c.slots.take(ip(2), c.slots.member()), 0);
  },
});

Deno.test({
  name: "host limits: keep holds a slot without a check (admitted while the parent was late)",
  ...opts,
  async fn() {
    await using h = await host(2);
    const [a, b] = h.workers;
    assert.equal(await a.slots.take(ip(1), a.slots.member()), -1);
    const late = b.slots.member();
    b.slots.keep(["ip:10.0.0.1"], late);
    a.close();
    await settle(b);
    // a's slot is gone but b's kept one still counts.
    assert.equal(await b.slots.take(ip(1), b.slots.member()), 0);
    b.slots.give(["ip:10.0.0.1"], late);
    await settle(b);
    assert.equal(await b.slots.take(ip(1), b.slots.member()), -1);
  },
});

Deno.test({
  name: "host limits: one handshake bucket per address for every worker",
  ...opts,
  async fn() {
    await using h = await host(2);
    const [a, b] = h.workers;
    assert.equal(await a.rate.handshake("10.0.0.1", 0.01), true);
    assert.equal(await b.rate.handshake("10.0.0.1", 0.01), false);
    assert.equal(await a.rate.handshake("10.0.0.1", 0.01), false);
    // Another address has its own bucket.
    assert.equal(await b.rate.handshake("10.0.0.2", 0.01), true);
  },
});

Deno.test({
  name: "host limits: an unreachable parent leaves the stores down, and the rate local",
  ...opts,
  async fn() {
    const dir = await Deno.makeTempDir();
    const w = await connectHostLimits(`${dir}/nothing.sock`, 1);
    assert.ok(!w.slots.up && !w.rate.up);
    await assert.rejects(w.slots.take(ip(1), w.slots.member()));
    const rate = createSharedRate(createLimiter({ handshakeRatePerIp: 0.01 }), w.rate, {
      rate: 0.01,
      timeoutMs: 1000,
    });
    assert.equal(await rate.handshake("10.0.0.1"), null);
    assert.equal((await rate.handshake("10.0.0.1"))?.kind, "rate");
    w.close();
    await Deno.remove(dir, { recursive: true });
  },
});
