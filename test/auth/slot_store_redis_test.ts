/**
 * The fleet's slot store against a real redis-server: the last slot goes to
 * exactly one of many concurrent takers (the Lua script is atomic), freed
 * slots admit again, and a slot nobody renews expires.
 */
import assert from "node:assert/strict";
import { RedisSlotStore } from "../../src/auth/slot_store_redis.ts";
import { createRedisClient } from "../../src/net/redis_client.ts";
import { redisEndpoint } from "../../src/net/redis.ts";
import { startRedis } from "../../scripts/testing/redis.ts";
import { skipUnless } from "../../scripts/testing/util.ts";

const NO_REDIS = skipUnless("redis-server", "apt-get install redis-server");

Deno.test({
  name: "redis slot store: one winner for the last slot; freed and expired slots admit again",
  ignore: NO_REDIS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const redis = await startRedis();
    const endpoint = redisEndpoint(`127.0.0.1:${redis.port}`, "--state-redis");
    const clients = [0, 1].map(() => createRedisClient(endpoint, { timeoutMs: 2000, queue: true }));
    const health = { up: true, failed: (e: unknown) => assert.fail(String(e)) };
    // Two replicas, each with its own connection; a 300 ms lifetime.
    const [a, b] = clients.map((c, i) => new RedisSlotStore(c, health, `r${i}`, 300));
    try {
      const claims = [{ key: "token:abc", max: 2 }];
      const tries = Array.from({ length: 10 }, (_, i) => {
        const store = i % 2 ? b : a;
        const member = store.member();
        return store.take(claims, member).then((full) => ({ store, member, full }));
      });
      const results = await Promise.all(tries);
      const won = results.filter((r) => r.full === -1);
      assert.equal(won.length, 2, "exactly max admitted");
      assert.ok(results.every((r) => r.full === -1 || r.full === 0));
      // Freed: admits again (on the same connection, so after the removal).
      won[0].store.give(["token:abc"], won[0].member);
      assert.equal(await won[0].store.take(claims, "again"), -1);
      assert.equal(await b.take(claims, "refused"), 0);
      // A second claim that is full refuses and adds nothing to the first.
      assert.equal(await a.take([{ key: "ip:x", max: 5 }, { key: "token:abc", max: 2 }], "m"), 1);
      assert.equal(
        await clients[0].zrange("vncws:state:slots:ip:x", "0", "-1").then((l) => l.length),
        0,
      );
      // Nobody renews: the slots expire.
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(await b.take(claims, "later"), -1);
      // Held and renewed: it stays.
      b.keep(["token:abc"], "later");
      for (let i = 0; i < 4; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const tx = clients[1].multi();
        const done = b.appendRenewal(tx);
        await tx.exec();
        done(true);
      }
      assert.equal(await a.take([{ key: "token:abc", max: 1 }], "late"), 0, "renewed slot holds");
    } finally {
      for (const c of clients) c.disconnect();
      await redis.proc.stop();
    }
  },
});
