/**
 * Ends sessions whose right to exist ended: `--max-session` or the token's
 * `max_duration` (the session lasted long enough; the shorter applies), the
 * token's expiry (a JWT's `exp` or its `expires` setting: the route carries
 * it), and
 * `--token-recheck` (the token no longer resolves through the token
 * backend). Each is closed with 1008 and a reason the viewer can show, by
 * aborting the session's signal with a `CloseRequest` (the same way an
 * administrator's `vncws sessions --kill` ends one).
 *
 * One timer per server walks the live sessions, and only while there are
 * sessions to watch: ten thousand idle sessions cost one interval, not ten
 * thousand timers. A token backend that fails during a recheck keeps the
 * sessions (logged once until it answers again): an outage of the backend
 * must not disconnect everyone.
 * @module
 */
import { logInfo, logWarn } from "../base/log.ts";
import type { Route } from "../route/router.ts";
import { CloseRequest } from "../ws/relay.ts";

/** The close code of every end decided here: 1008, policy violation. */
export const POLICY_CLOSE = 1008;
/** The close reason when `--max-session` or the token's `max_duration` is reached. */
export const TIME_LIMIT = "session time limit";
/** The close reason when a recheck finds the token unknown. */
export const TOKEN_REVOKED = "token revoked";
/** The close reason when the token's expiry (a JWT's `exp`, its `expires` setting) passed. */
export const TOKEN_EXPIRED = "token expired";

/** How many token lookups of one recheck run at once (a slow API must not get thousands). */
const RECHECK_BATCH = 32;

/** Options for {@linkcode createSessionLife}. */
export interface SessionLifeOptions {
  /** `--max-session`: seconds a session may last, 0 = no limit. */
  maxSession: number;
  /** `--token-recheck`: seconds between token rechecks, 0 = off. */
  tokenRecheck: number;
  /** The clock (ms since the epoch); tests pass a fake one. */
  now?: () => number;
  /** Milliseconds between walks (default 1000); 0 = no timer (tests call `tick`). */
  tickMs?: number;
}

/** One watched session: its own stop signal, and how to stop watching it. */
export interface SessionWatch {
  /** Aborted with a `CloseRequest` when the session must end. */
  readonly signal: AbortSignal;
  /** The session ended: stop watching it (idempotent). */
  stop(): void;
}

/** The per-server watcher. */
export interface SessionLife {
  /**
   * Watches a session that starts now; undefined when nothing can end it
   * here (no time limit, no expiry, no recheck).
   */
  watch(route: Pick<Route, "expiresAt" | "recheck" | "maxDuration">): SessionWatch | undefined;
  /** One walk: ends what is due, and rechecks the tokens when that is due. */
  tick(): Promise<void>;
  /** Sessions watched now. */
  readonly size: number;
}

interface Entry {
  controller: AbortController;
  deadline: number;
  expiresAt?: number;
  recheck?: () => Promise<boolean>;
}

/** Creates the watcher of one server. */
export function createSessionLife(options: SessionLifeOptions): SessionLife {
  const now = options.now ?? Date.now;
  const tickMs = options.tickMs ?? 1000;
  const recheckMs = options.tokenRecheck * 1000;
  const live = new Set<Entry>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let lastRecheck = now();
  let checking = false;
  let downLogged = false;

  const remove = (e: Entry) => {
    live.delete(e);
    if (live.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  const end = (e: Entry, reason: string) => {
    remove(e);
    e.controller.abort(new CloseRequest(POLICY_CLOSE, reason));
  };
  const expired = (e: Entry, t: number) => e.expiresAt !== undefined && t >= e.expiresAt;

  const recheckAll = async () => {
    const due = [...live].filter((e) => e.recheck);
    let failure: unknown;
    for (let i = 0; i < due.length; i += RECHECK_BATCH) {
      await Promise.all(
        due.slice(i, i + RECHECK_BATCH).map(async (e) => {
          if (!live.has(e)) return; // ended meanwhile
          try {
            const valid = await e.recheck!();
            if (!valid && live.has(e)) end(e, expired(e, now()) ? TOKEN_EXPIRED : TOKEN_REVOKED);
          } catch (err) {
            failure ??= err;
          }
        }),
      );
    }
    if (failure !== undefined) {
      if (downLogged) return;
      downLogged = true;
      logWarn("token recheck: the token backend failed; sessions are kept until it answers", {
        reason: failure instanceof Error ? failure.message : String(failure),
      });
    } else if (downLogged && due.length > 0) {
      downLogged = false;
      logInfo("token recheck: the token backend answers again");
    }
  };

  const tick = async () => {
    const t = now();
    for (const e of live) {
      if (t >= e.deadline) end(e, TIME_LIMIT);
      else if (expired(e, t)) end(e, TOKEN_EXPIRED);
    }
    if (recheckMs <= 0 || checking || t - lastRecheck < recheckMs) return;
    lastRecheck = t;
    checking = true;
    try {
      await recheckAll();
    } finally {
      checking = false;
    }
  };

  return {
    get size() {
      return live.size;
    },
    tick,
    watch(route) {
      // The shorter of the server's limit and the token's own.
      const seconds = Math.min(
        options.maxSession > 0 ? options.maxSession : Infinity,
        route.maxDuration !== undefined && route.maxDuration > 0 ? route.maxDuration : Infinity,
      );
      const deadline = seconds === Infinity ? Infinity : now() + seconds * 1000;
      const recheck = recheckMs > 0 ? route.recheck : undefined;
      if (deadline === Infinity && route.expiresAt === undefined && !recheck) return undefined;
      const e: Entry = {
        controller: new AbortController(),
        deadline,
        expiresAt: route.expiresAt,
        recheck,
      };
      live.add(e);
      if (timer === undefined && tickMs > 0) {
        const t = setInterval(() => void tick(), tickMs);
        // The sessions hold the process, not this walk over them.
        Deno.unrefTimer(t);
        timer = t;
      }
      return { signal: e.controller.signal, stop: () => remove(e) };
    },
  };
}
