/**
 * A {@linkcode BanStore} in Redis (`--ban-redis redis://host:6379/0`), so a
 * fleet of replicas behind one load balancer bans together: a client that
 * spreads its guesses over replicas is counted once, and a ban started by
 * one replica is refused by all.
 *
 * Keys: `vncws:fail:<address>` (a counter that expires `--ban-window`
 * seconds after the first failure of a window) and `vncws:ban:<address>`
 * (expires with the ban). A ban is also published on channel `vncws:bans`
 * as `<seconds> <address>`, and each replica loads the bans already in force
 * when it starts. Addresses are client IPs, never secrets.
 * @module
 */
import { Redis } from "ioredis";
import { logInfo, logWarn } from "../base/log.ts";
import { checked } from "../net/redis.ts";
import type { BanStore } from "./bans.ts";

const FAIL = "vncws:fail:";
const BAN = "vncws:ban:";
const CHANNEL = "vncws:bans";

/** Options for {@linkcode createRedisBanStore}. */
export interface RedisBanStoreOptions {
  /** Seconds allowed for connecting and for each command (default 5). */
  timeout?: number;
}

/** Connects (lazily) to the Redis at `url`; see the module doc. */
export function createRedisBanStore(url: string, options: RedisBanStoreOptions = {}): BanStore {
  const ms = (options.timeout ?? 5) * 1000;
  const settings = {
    lazyConnect: true,
    connectTimeout: ms,
    commandTimeout: ms,
    maxRetriesPerRequest: 1,
    // Reconnect forever, at most every 5 s: bans come back with Redis.
    retryStrategy: (times: number) => Math.min(times * 200, 5000),
  };
  const client = new Redis(url, settings);
  const subscriber = new Redis(url, settings);
  // ioredis emits "error" on every failed reconnect; one line per outage is enough.
  let down = false;
  const onError = (e: Error) => {
    if (down) return;
    down = true;
    logWarn("ban store: Redis unavailable; bans stay local until it is back", {
      reason: e.message,
    });
  };
  const onReady = () => {
    if (down) logInfo("ban store: Redis is back");
    down = false;
  };
  for (const r of [client, subscriber]) {
    r.on("error", onError);
    r.on("ready", onReady);
  }
  return {
    async failure(address, window) {
      const key = FAIL + address;
      // EX takes whole seconds; --ban-window may be fractional.
      const replies = checked(
        await client.multi().set(key, "0", "EX", Math.ceil(window), "NX").incr(key).exec(),
      );
      const count = replies[1];
      return typeof count === "number" ? count : 0;
    },
    async ban(address, seconds) {
      const whole = Math.ceil(seconds);
      checked(
        await client.multi()
          .set(BAN + address, "1", "EX", whole)
          .del(FAIL + address)
          .publish(CHANNEL, `${whole} ${address}`)
          .exec(),
      );
    },
    async subscribe(onBan) {
      subscriber.on("message", (_channel: string, message: string) => {
        const space = message.indexOf(" ");
        const seconds = Number(message.slice(0, space));
        if (space > 0 && seconds > 0) onBan(message.slice(space + 1), seconds);
      });
      try {
        await subscriber.subscribe(CHANNEL);
        // Bans started before this replica did.
        let cursor = "0";
        do {
          const [next, keys] = await client.scan(cursor, "MATCH", `${BAN}*`, "COUNT", 500);
          cursor = next;
          for (const key of keys) {
            const ttl = await client.ttl(key);
            if (ttl > 0) onBan(key.slice(BAN.length), ttl);
          }
        } while (cursor !== "0");
      } catch (e) {
        // Not fatal: vncws serves, banning locally, and ioredis keeps reconnecting.
        onError(e as Error);
      }
    },
    async close() {
      client.disconnect();
      subscriber.disconnect();
      await Promise.resolve();
    },
  };
}
