/**
 * Fleet-wide state (`--state-redis`): one Redis shared by the replicas
 * behind a load balancer holds their live sessions (src/metrics/fleet_sessions.ts)
 * and the slots `--max-per-ip`/`--max-per-token` count (src/auth/slot_store_redis.ts).
 * This module connects, renews both in one transaction every TTL/3, ends a
 * session when an administrator asks on the end channel, and keeps track
 * of whether Redis answers.
 *
 * Redis is never on a session's data path. While it does not answer, the
 * limits count this replica's sessions only, `/readyz` stays 200 with a
 * warning (every replica would fail together, so none should leave the
 * load balancer), one log line says so, and when it is back the live
 * sessions and slots are written again at once.
 * @module
 */
import { logInfo, logWarn } from "../base/log.ts";
import { raceTimeout } from "../base/time.ts";
import type { SlotStore } from "../auth/fleet_limits.ts";
import { RedisSlotStore } from "../auth/slot_store_redis.ts";
import { checked, type RedisBatch, redisEndpoint } from "../net/redis.ts";
import { createRedisClient } from "../net/redis_client.ts";
import {
  appendSessionEnd,
  appendSessionRenewal,
  appendSessionStart,
  END_CHANNEL,
  type FleetSession,
  listFleetSessions,
  parseFleetSessionId,
} from "../metrics/fleet_sessions.ts";
import type { FleetRegistry } from "../metrics/session_book.ts";
import type { SessionInfo } from "../metrics/sessions.ts";
import { CloseRequest } from "../ws/relay.ts";

/** Seconds a replica's entries live without a renewal (renewed every third of it). */
export const STATE_TTL_SECONDS = 30;
/** Milliseconds allowed for connecting and for each Redis command. */
const TIMEOUT_MS = 2000;
/** What a session ended on request is closed with: 1000, the end was orderly and meant. */
export const ADMIN_END = { code: 1000, reason: "ended by an administrator" } as const;

/** Options for {@linkcode startFleet}. */
export interface FleetOptions {
  /** `--state-redis`: `host[:port[:db[:password]]]` or a `redis://` URL. */
  source: string;
  /** This replica's id (`hostname:pid`). */
  replica: string;
  /** How long entries live without renewal (default {@linkcode STATE_TTL_SECONDS} s). */
  ttlMs?: number;
}

/** The running fleet state. */
export interface Fleet {
  /** This replica's id. */
  readonly replica: string;
  /** The shared slots, for the router's limits. */
  readonly slots: SlotStore;
  /** The session book's hook. */
  readonly registry: FleetRegistry;
  /** The fleet's live sessions; this replica's only (`local`) when Redis does not answer. */
  sessions(local: SessionInfo[]): Promise<SessionInfo[]>;
  /** Why the fleet state is degraded now (Redis not answering), for `/readyz`. */
  warning(): string | undefined;
  /** Removes this replica's entries and disconnects. */
  close(): Promise<void>;
}

interface Live {
  info: SessionInfo;
  kind: "ws" | "raw";
  end: (request: CloseRequest) => void;
}

/** Connects (in the background: an unreachable Redis never stops the start) and starts renewing. */
export function startFleet(options: FleetOptions): Fleet {
  const { replica } = options;
  const ttlMs = options.ttlMs ?? STATE_TTL_SECONDS * 1000;
  const endpoint = redisEndpoint(options.source, "--state-redis");
  const client = createRedisClient(endpoint, { timeoutMs: TIMEOUT_MS });
  const subscriber = createRedisClient(endpoint, { timeoutMs: TIMEOUT_MS, queue: true });
  const live = new Map<number, Live>();
  let up = false;
  let downLogged = false;
  let closed = false;

  const markDown = (e: unknown) => {
    up = false;
    if (downLogged || closed) return;
    downLogged = true;
    logWarn(
      `fleet state: Redis at ${endpoint.name} does not answer; limits count this replica's ` +
        "sessions only until it is back",
      { reason: e instanceof Error ? e.message : String(e) },
    );
  };
  const markUp = () => {
    if (up) return;
    up = true;
    if (!downLogged) return;
    downLogged = false;
    logInfo(`fleet state: Redis at ${endpoint.name} is back; live sessions registered again`, {
      sessions: live.size,
    });
  };
  const view = (l: Live): FleetSession => ({ ...l.info, replica, kind: l.kind });

  const slots = new RedisSlotStore(
    client,
    {
      get up() {
        return up;
      },
      failed: markDown,
    },
    replica,
    ttlMs,
  );

  // One renewal at a time; one asked for meanwhile runs right after.
  let renewing: Promise<void> | undefined;
  let again = false;
  const renewOnce = async () => {
    const tx = client.multi();
    appendSessionRenewal(tx, replica, [...live.values()].map(view), ttlMs);
    const done = slots.appendRenewal(tx);
    try {
      checked(await tx.exec());
      done(true);
      markUp();
    } catch (e) {
      done(false);
      markDown(e);
    }
  };
  const renew = (): Promise<void> => {
    if (renewing) {
      again = true;
      return renewing;
    }
    renewing = (async () => {
      do {
        again = false;
        await renewOnce();
      } while (again && !closed);
      renewing = undefined;
    })();
    return renewing;
  };

  client.on("error", markDown);
  client.on("close", () => markDown(new Error("connection lost")));
  client.on("ready", () => {
    // Back (or there for the first time): write everything at once.
    if (!closed) void renew();
  });
  // The main client reports outages; a subscriber's own errors add nothing.
  subscriber.on("error", () => {});
  subscriber.on("message", (_channel: string, message: string) => {
    const asked = parseFleetSessionId(message);
    if (!asked || asked.replica !== replica) return;
    const l = live.get(asked.id);
    if (!l) return;
    logInfo("session ended by an administrator", {
      session: message,
      client: l.info.client,
      target: l.info.target,
      token: l.info.token,
    });
    l.end(new CloseRequest(ADMIN_END.code, ADMIN_END.reason));
  });
  subscriber.subscribe(END_CHANNEL).catch(() => {});
  const timer = setInterval(() => void renew(), Math.max(100, Math.floor(ttlMs / 3)));
  logInfo(`fleet state in Redis at ${endpoint.name}`, { replica });

  const send = (fill: (tx: RedisBatch) => void) => {
    if (!up) return; // the next renewal after Redis is back writes everything
    const tx = client.multi();
    fill(tx);
    tx.exec().then(checked).catch(markDown);
  };

  return {
    replica,
    slots,
    registry: {
      open(info, kind, end) {
        const l: Live = { info, kind, end };
        live.set(info.id, l);
        send((tx) => appendSessionStart(tx, view(l), ttlMs));
      },
      close(id) {
        if (!live.delete(id)) return;
        send((tx) => appendSessionEnd(tx, replica, id));
      },
    },
    async sessions(local) {
      const mine = local.map((s) => ({ ...s, replica }));
      if (!up) return mine;
      try {
        const all = await listFleetSessions(client);
        return [...all.filter((s) => s.replica !== replica), ...mine];
      } catch (e) {
        markDown(e);
        return mine;
      }
    },
    warning() {
      // Answered on the public port's /readyz too: the Redis address stays in the log line.
      return up ? undefined : "fleet state: Redis does not answer; " +
        "limits count this replica's sessions only";
    },
    async close() {
      clearInterval(timer);
      // This replica's list emptied (its sessions have ended by now), then gone.
      if (up) await raceTimeout(renew(), TIMEOUT_MS);
      closed = true;
      client.disconnect();
      subscriber.disconnect();
    },
  };
}
