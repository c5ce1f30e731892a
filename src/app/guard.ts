/**
 * The brute-force guard from the configuration: a {@linkcode BanList} with
 * its metrics, and the shared Redis store with `--ban-redis` (imported only
 * then), or in a `--workers` relay process the host's list its parent keeps
 * (one client counts once however the kernel spreads its connections). It
 * outlives routing reloads: bans survive a SIGHUP.
 * @module
 */
import { BanList } from "../auth/bans.ts";
import { type Config, hostBansPath } from "../config/config.ts";
import type { VncwsMetrics } from "../metrics/metrics.ts";

/** Builds and starts the ban list for `config.bans` (call only with `after` > 0). */
export async function createBans(config: Config, metrics?: VncwsMetrics): Promise<BanList> {
  const { after, window, time, redis } = config.bans;
  const store = redis
    ? (await import("../auth/ban_store_redis.ts")).createRedisBanStore(redis)
    : config.worker
    ? (await import("../auth/ban_store_host.ts")).createHostBanStore(hostBansPath(config.worker))
    : undefined;
  const bans = new BanList({
    after,
    window,
    time,
    store,
    onFailure: (kind) => metrics?.authFailures.labels(kind).inc(),
    onActive: (active) => metrics?.bansActive.set(active),
  });
  await bans.start();
  return bans;
}
