/**
 * Bans shared by the relay processes of one host (`--workers` without
 * `--ban-redis`): the parent keeps the failure counts and the bans in force
 * ({@linkcode serveHostBans}) on a unix socket in its private directory, and
 * each worker's {@linkcode BanList} uses it as its {@linkcode BanStore}
 * ({@linkcode createHostBanStore}). Without it a client whose connections
 * the kernel spreads over N workers would get N × `--ban-after` guesses.
 *
 * The protocol is one JSON object a line. Worker → parent:
 * `{"failure":ADDR,"window":S,"id":N}` (answered `{"id":N,"count":C}`, the
 * host's failures of ADDR within S seconds) and `{"ban":ADDR,"seconds":S}`.
 * Parent → worker: `{"ban":ADDR,"seconds":S}` for every ban in force when
 * the worker connects and every ban another worker starts later.
 * @module
 */
import { logDebug } from "../base/log.ts";
import type { BanStore } from "./bans.ts";

const encoder = new TextEncoder();

/** Calls `onLine` for each line read from `conn` until it ends. */
async function readLines(conn: Deno.Conn, onLine: (line: string) => void): Promise<void> {
  let rest = "";
  try {
    for await (const chunk of conn.readable.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop()!;
      for (const line of lines) if (line) onLine(line);
    }
  } catch { /* the peer went away */ }
}

function send(conn: Deno.Conn, message: unknown): void {
  conn.write(encoder.encode(JSON.stringify(message) + "\n")).catch(() => {});
}

/** The parent's side: failures and bans of every worker, on the unix socket `path`. */
export function serveHostBans(
  path: string,
  now: () => number = Date.now,
): { close(): void } {
  const listener = Deno.listen({ transport: "unix", path });
  const failures = new Map<string, number[]>();
  const bans = new Map<string, number>();
  const conns = new Set<Deno.Conn>();
  const onLine = (from: Deno.Conn, line: string) => {
    let m: { failure?: string; window?: number; id?: number; ban?: string; seconds?: number };
    try {
      m = JSON.parse(line);
    } catch {
      return;
    }
    const t = now();
    if (typeof m.failure === "string" && typeof m.window === "number") {
      const times = (failures.get(m.failure) ?? []).filter((f) => t - f < m.window! * 1000);
      times.push(t);
      // Re-inserted so the oldest entry is first; bounded like the workers' own lists.
      failures.delete(m.failure);
      failures.set(m.failure, times);
      if (failures.size > 10_000) failures.delete(failures.keys().next().value!);
      send(from, { id: m.id, count: times.length });
    } else if (typeof m.ban === "string" && typeof m.seconds === "number") {
      failures.delete(m.ban);
      bans.set(m.ban, t + m.seconds * 1000);
      for (const c of conns) if (c !== from) send(c, { ban: m.ban, seconds: m.seconds });
    }
  };
  void (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      const t = now();
      for (const [address, until] of bans) {
        if (until <= t) bans.delete(address);
        else send(conn, { ban: address, seconds: Math.ceil((until - t) / 1000) });
      }
      void readLines(conn, (line) => onLine(conn, line)).finally(() => {
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed */ }
      });
    }
  })().catch(() => {});
  return {
    close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

/** A worker's side: a {@linkcode BanStore} on the parent's socket at `path`. */
export function createHostBanStore(path: string): BanStore {
  let conn: Deno.Conn | undefined;
  let next = 0;
  const waiting = new Map<number, (count: number) => void>();
  const gone = () => Promise.reject(new Error("not connected to the --workers parent's ban list"));
  return {
    failure(address, window) {
      const c = conn;
      if (!c) return gone();
      const id = ++next;
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        send(c, { failure: address, window, id });
      });
    },
    ban(address, seconds) {
      if (!conn) return gone();
      send(conn, { ban: address, seconds });
      return Promise.resolve();
    },
    async subscribe(onBan) {
      conn = await Deno.connect({ transport: "unix", path });
      const c = conn;
      void readLines(c, (line) => {
        try {
          const m = JSON.parse(line);
          if (typeof m.id === "number") {
            waiting.get(m.id)?.(m.count);
            waiting.delete(m.id);
          } else if (typeof m.ban === "string") onBan(m.ban, m.seconds);
        } catch (e) {
          logDebug("ban list: bad line from the parent", { reason: (e as Error).message });
        }
      }).then(() => {
        // The parent is gone (it is stopping): local counts go on alone.
        conn = undefined;
        for (const resolve of waiting.values()) resolve(0);
        waiting.clear();
      });
    },
    close() {
      try {
        conn?.close();
      } catch { /* closed */ }
      return Promise.resolve();
    },
  };
}
