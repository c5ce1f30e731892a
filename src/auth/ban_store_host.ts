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
import {
  connectJsonLines,
  type JsonLineClient,
  sendJsonLine,
  serveJsonLines,
} from "../net/json_lines.ts";
import { type BanStore, countFailure } from "./bans.ts";

/** The parent's side: failures and bans of every worker, on the unix socket `path`. */
export function serveHostBans(
  path: string,
  now: () => number = Date.now,
): { close(): void } {
  const failures = new Map<string, number[]>();
  const bans = new Map<string, number>();
  const server = serveJsonLines(path, {
    open(conn) {
      const t = now();
      for (const [address, until] of bans) {
        if (until <= t) bans.delete(address);
        else sendJsonLine(conn, { ban: address, seconds: Math.ceil((until - t) / 1000) });
      }
    },
    line(from, m) {
      const t = now();
      if (typeof m.failure === "string" && typeof m.window === "number") {
        // Bounded like the workers' own lists.
        const times = countFailure(failures, m.failure, t, m.window * 1000, 10_000);
        sendJsonLine(from, { id: m.id, count: times.length });
      } else if (typeof m.ban === "string" && typeof m.seconds === "number") {
        failures.delete(m.ban);
        bans.set(m.ban, t + m.seconds * 1000);
        for (const c of server.conns) {
          if (c !== from) sendJsonLine(c, { ban: m.ban, seconds: m.seconds });
        }
      }
    },
  });
  return server;
}

/** A worker's side: a {@linkcode BanStore} on the parent's socket at `path`. */
export function createHostBanStore(path: string): BanStore {
  let client: JsonLineClient | undefined;
  const gone = () => Promise.reject(new Error("not connected to the --workers parent's ban list"));
  return {
    async failure(address, window) {
      if (!client?.open) return gone();
      // The parent gone (it is stopping): local counts go on alone.
      const answer = await client.request({ failure: address, window }).catch(() => ({
        count: 0,
      }));
      return Number(answer.count) || 0;
    },
    ban(address, seconds) {
      if (!client?.open) return gone();
      client.send({ ban: address, seconds });
      return Promise.resolve();
    },
    async subscribe(onBan) {
      client = await connectJsonLines(path, (m) => {
        if (typeof m.ban === "string" && typeof m.seconds === "number") onBan(m.ban, m.seconds);
        else logDebug("ban list: unexpected line from the parent", { keys: Object.keys(m) });
      });
    },
    close() {
      client?.close();
      return Promise.resolve();
    },
  };
}
