/**
 * `--max-per-ip`, `--max-per-token` and `--handshake-rate` for the whole
 * host under `--workers`: the parent keeps the host's session slots and
 * handshake buckets ({@linkcode serveHostLimits}) on a unix socket in its
 * private directory, and each worker's router asks it
 * ({@linkcode connectHostLimits}: a {@linkcode SlotStore}, as Redis is for a
 * fleet, and a {@linkcode HandshakeRateStore}). Without it a client whose
 * connections the kernel spreads over N workers would get N times each limit.
 *
 * Slots belong to the connection of the worker that took them: when a
 * worker exits (or is killed), the parent reads the end of its connection
 * and frees its slots at once, with no expiry to wait for. The parent
 * answers each request when it reads it (one process, one thread), so two
 * workers cannot both take the last slot.
 *
 * The protocol is one JSON object a line (src/net/json_lines.ts). Worker →
 * parent: `{"take":[{"key":K,"max":M},…],"member":S,"id":N}` (answered
 * `{"id":N,"full":I}`: -1 = taken, else the index of the first full claim),
 * `{"keep":[K,…],"member":S}` (hold without a check: the worker admitted the
 * session while the parent did not answer), `{"give":[K,…],"member":S}`, and
 * `{"rate":ADDR,"per":R,"id":N}` (answered `{"id":N,"ok":B}`: a handshake
 * from ADDR within R a second, host-wide).
 * @module
 */
import { logWarn } from "../base/log.ts";
import {
  connectJsonLines,
  type JsonLineClient,
  sendJsonLine,
  serveJsonLines,
} from "../net/json_lines.ts";
import type { HandshakeRateStore, SlotClaim, SlotStore } from "./fleet_limits.ts";
import { createLimiter, type Limiter } from "./limits.ts";

function isClaims(v: unknown): v is SlotClaim[] {
  return Array.isArray(v) &&
    v.every((c) => typeof c?.key === "string" && typeof c?.max === "number");
}

function isKeys(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((k) => typeof k === "string");
}

/** The parent's side: every worker's slots and handshakes, on the unix socket `path`. */
export function serveHostLimits(path: string): { close(): void } {
  /** Each counted thing's members; a member is `<connection>/<worker's name>`. */
  const sets = new Map<string, Set<string>>();
  /** Each worker connection's number (for member names) and what it holds: member → keys. */
  const held = new Map<Deno.Conn, { name: number; members: Map<string, string[]> }>();
  /** Handshake buckets, one limiter per rate asked for (a reload may change it). */
  const rates = new Map<number, Limiter>();
  let connections = 0;

  const add = (keys: string[], member: string) => {
    for (const k of keys) {
      let set = sets.get(k);
      if (!set) sets.set(k, set = new Set());
      set.add(member);
    }
  };
  const remove = (keys: string[], member: string) => {
    for (const k of keys) {
      const set = sets.get(k);
      if (!set) continue;
      set.delete(member);
      if (set.size === 0) sets.delete(k);
    }
  };

  return serveJsonLines(path, {
    open(conn) {
      held.set(conn, { name: ++connections, members: new Map() });
    },
    close(conn) {
      // The worker is gone: its sessions are too.
      for (const [member, keys] of held.get(conn)?.members ?? []) remove(keys, member);
      held.delete(conn);
    },
    line(from, m) {
      const worker = held.get(from);
      if (!worker) return;
      const mine = worker.members;
      const member = `${worker.name}/${m.member}`;
      if (isClaims(m.take) && typeof m.member === "string") {
        const full = m.take.findIndex((c) => (sets.get(c.key)?.size ?? 0) >= c.max);
        if (full < 0) {
          const keys = m.take.map((c) => c.key);
          add(keys, member);
          mine.set(member, keys);
        }
        sendJsonLine(from, { id: m.id, full });
      } else if (isKeys(m.keep) && typeof m.member === "string") {
        add(m.keep, member);
        mine.set(member, m.keep);
      } else if (isKeys(m.give) && typeof m.member === "string") {
        remove(m.give, member);
        mine.delete(member);
      } else if (typeof m.rate === "string" && typeof m.per === "number" && m.per > 0) {
        let limiter = rates.get(m.per);
        if (!limiter) rates.set(m.per, limiter = createLimiter({ handshakeRatePerIp: m.per }));
        sendJsonLine(from, { id: m.id, ok: limiter.handshake(m.rate) === null });
      }
    },
  });
}

/** A worker's side of {@linkcode serveHostLimits}. */
export interface HostLimits {
  /** The host's session slots, for the router's `--max-per-ip`/`--max-per-token`. */
  readonly slots: SlotStore;
  /** The host's handshake buckets, for `--handshake-rate`. */
  readonly rate: HandshakeRateStore;
  /** Disconnects. */
  close(): void;
}

/**
 * Connects worker `worker` to the parent's limits at `path`. Never
 * rejects: when the parent cannot be reached (it should always be), one
 * line is logged and the limits count this worker's sessions only.
 */
export async function connectHostLimits(path: string, worker: number): Promise<HostLimits> {
  let client: JsonLineClient | undefined;
  let closing = false;
  const fallback = (reason: string) =>
    logWarn(
      "host limits: the --workers parent does not answer; --max-per-ip, --max-per-token and " +
        "--handshake-rate count this worker's sessions only",
      { reason },
    );
  try {
    client = await connectJsonLines(path);
    void client.ended.then(() => closing || fallback("its socket closed"));
  } catch (e) {
    fallback((e as Error).message);
  }
  let seq = 0;
  const up = () => client?.open === true;
  const slots: SlotStore = {
    get up() {
      return up();
    },
    member: () => `w${worker}#${++seq}`,
    async take(claims, member) {
      if (!client) throw new Error("not connected to the --workers parent");
      return Number((await client.request({ take: claims, member })).full);
    },
    keep: (keys, member) => client?.send({ keep: keys, member }),
    give: (keys, member) => client?.send({ give: keys, member }),
  };
  const rate: HandshakeRateStore = {
    get up() {
      return up();
    },
    async handshake(address, per) {
      if (!client) throw new Error("not connected to the --workers parent");
      return (await client.request({ rate: address, per })).ok === true;
    },
  };
  return {
    slots,
    rate,
    close() {
      closing = true;
      client?.close();
    },
  };
}
