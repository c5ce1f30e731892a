/**
 * The fleet's live sessions in Redis (`--state-redis`): how each replica
 * writes its own, and how anyone with access to that Redis lists them all
 * or asks for one to end (`vncws sessions`, the status page).
 *
 * Keys:
 * - `vncws:state:sessions:<replica>`: a hash, session number → the session
 *   as JSON ({@linkcode FleetSession}: client, target, token hash — never
 *   the token —, start, bytes each way). It expires with the replica's TTL;
 *   the replica rewrites it whole at each renewal, so a replica that dies
 *   drops out within the TTL and one that was cut off from Redis is exact
 *   again after its first renewal.
 * - `vncws:state:replicas`: a sorted set of replica ids by their last
 *   renewal (replica clock, ms): only an index for listing; entries older
 *   than an hour are dropped by the lister.
 * - channel `vncws:state:end`: `<replica>/<n>` asks that replica to end
 *   session `n`.
 * @module
 */
import type { RedisBatch, RedisCommands } from "../net/redis.ts";
import type { SessionInfo } from "./sessions.ts";

const SESSIONS = "vncws:state:sessions:";
const REPLICAS = "vncws:state:replicas";
/** The channel that carries requests to end a session. */
export const END_CHANNEL = "vncws:state:end";
/** How long a silent replica stays in the index (its sessions expire much sooner). */
const INDEX_MS = 3600_000;

/** One session as the fleet lists it. */
export interface FleetSession extends SessionInfo {
  /** The replica that holds it (`hostname:pid`). */
  replica: string;
  /** WebSocket or raw (a native VNC viewer). */
  kind?: "ws" | "raw";
}

/** `<replica>/<n>`: a session's name across the fleet (what `--kill` takes). */
export function fleetSessionId(s: { replica: string; id: number }): string {
  return `${s.replica}/${s.id}`;
}

/** Splits `<replica>/<n>`; undefined when it is not one. */
export function parseFleetSessionId(text: string): { replica: string; id: number } | undefined {
  const slash = text.lastIndexOf("/");
  const id = Number(text.slice(slash + 1));
  if (slash <= 0 || !/^\d+$/.test(text.slice(slash + 1)) || !Number.isSafeInteger(id)) {
    return undefined;
  }
  return { replica: text.slice(0, slash), id };
}

/** Adds one session's registration to `tx` (at its start). */
export function appendSessionStart(
  tx: RedisBatch,
  session: FleetSession,
  ttlMs: number,
): void {
  const key = SESSIONS + session.replica;
  tx.hset(key, String(session.id), JSON.stringify(session));
  tx.pexpire(key, ttlMs);
  tx.zadd(REPLICAS, Date.now(), session.replica);
}

/** Adds the removal of a session that ended to `tx`. */
export function appendSessionEnd(tx: RedisBatch, replica: string, id: number): void {
  tx.hdel(SESSIONS + replica, String(id));
}

/** Adds a renewal to `tx`: the replica's hash rewritten with `sessions` (its live ones). */
export function appendSessionRenewal(
  tx: RedisBatch,
  replica: string,
  sessions: readonly FleetSession[],
  ttlMs: number,
): void {
  const key = SESSIONS + replica;
  tx.del(key);
  if (sessions.length > 0) {
    tx.hset(key, Object.fromEntries(sessions.map((s) => [String(s.id), JSON.stringify(s)])));
    tx.pexpire(key, ttlMs);
  }
  tx.zadd(REPLICAS, Date.now(), replica);
}

/** Every live session of the fleet, by replica then start; rejects when Redis does not answer. */
export async function listFleetSessions(client: RedisCommands): Promise<FleetSession[]> {
  await client.zremrangebyscore(REPLICAS, "-inf", Date.now() - INDEX_MS);
  const replicas = await client.zrange(REPLICAS, "0", "-1");
  if (replicas.length === 0) return [];
  const p = client.pipeline();
  for (const r of replicas) p.hvals(SESSIONS + r);
  const replies = (await p.exec()) ?? [];
  const out: FleetSession[] = [];
  for (const [error, values] of replies) {
    if (error) throw error;
    for (const v of values as string[]) {
      try {
        out.push(JSON.parse(v) as FleetSession);
      } catch { /* not ours: skip */ }
    }
  }
  return out.sort((a, b) => a.replica.localeCompare(b.replica) || a.started - b.started);
}

/**
 * Asks the replica that holds session `id` (`<replica>/<n>`) to end it;
 * resolves how many replicas heard the request (0: none is listening).
 */
export async function requestSessionEnd(client: RedisCommands, id: string): Promise<number> {
  return await client.publish(END_CHANNEL, id);
}
