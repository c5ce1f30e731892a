import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { createRedisBanStore } from "../../src/auth/ban_store_redis.ts";
import { startRedis } from "../../scripts/testing/redis.ts";
import { skipUnless } from "../../scripts/testing/util.ts";

Deno.test({
  name: "Redis ban store: counts expire with the window, bans are stored and published",
  ignore: skipUnless("redis-server", "apt-get install redis-server"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const redis = await startRedis();
    const url = `redis://127.0.0.1:${redis.port}/0`;
    const admin = new Redis(url, { lazyConnect: true });
    const store = createRedisBanStore(url);
    const later = createRedisBanStore(url);
    try {
      const heard: Array<[string, number]> = [];
      await store.subscribe((address, seconds) => heard.push([address, seconds]));
      // A fractional window (the CLI takes 2.5) must still set an expiry.
      assert.equal(await store.failure("192.0.2.9", 2.5), 1);
      assert.equal(await store.failure("192.0.2.9", 2.5), 2);
      const ttl = await admin.ttl("vncws:fail:192.0.2.9");
      assert.ok(ttl > 0 && ttl <= 3, `the count expires (ttl ${ttl})`);
      await store.ban("192.0.2.9", 30.5);
      assert.ok((await admin.ttl("vncws:ban:192.0.2.9")) > 0, "the ban is stored");
      assert.equal(await admin.exists("vncws:fail:192.0.2.9"), 0, "its count is cleared");
      for (let i = 0; i < 50 && heard.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(heard, [["192.0.2.9", 31]]);
      // A replica starting later loads the bans in force.
      const loaded: string[] = [];
      await later.subscribe((address) => loaded.push(address));
      assert.deepEqual(loaded, ["192.0.2.9"]);
    } finally {
      admin.disconnect();
      await store.close();
      await later.close();
      await redis.proc.stop();
    }
  },
});

Deno.test({
  name: "Redis ban store: an unreachable Redis rejects failures (bans then stay local)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const store = createRedisBanStore("redis://127.0.0.1:1/0", { timeout: 1 });
    try {
      await store.subscribe(() => {});
      await assert.rejects(store.failure("192.0.2.1", 60));
    } finally {
      await store.close();
    }
  },
});
