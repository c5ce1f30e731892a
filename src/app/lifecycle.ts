/**
 * The proxy's lifecycle: when it stops accepting, when sessions are closed,
 * and whether it is ready. Stopping has two strengths:
 * - a **shutdown** (SIGINT/SIGTERM, the wrapped command gone) stops
 *   accepting, closes connections that are not sessions yet at once, and
 *   gives sessions `--drain-timeout` before they are closed with 1001 (a
 *   second signal closes them at once);
 * - `--timeout`, `--idle-timeout` and `--run-once` only stop accepting:
 *   what was accepted is still served.
 * SIGHUP reloads (the caller says what). Readiness (`/readyz`) is false while
 * stopping, while a wrapped server is starting and while the token backend
 * is down.
 * @module
 */
import { logInfo, logWarn } from "../base/log.ts";
import { notifyStopping } from "../service/systemd.ts";

/** `/readyz`'s answer. */
export interface ReadyState {
  /** True when vncws takes new sessions. */
  ok: boolean;
  /** Why not ready. */
  why?: string;
  /** Ready, but something is degraded (`--state-redis` unreachable): said in the body. */
  warning?: string;
}

/** How busy the proxy is, for `--idle-timeout`. */
export interface Activity {
  /** Connections being served (sessions and ones on their way to be). */
  readonly connections: number;
  /** Sessions relaying now. */
  readonly sessions: number;
  /** When the last session ended (ms since the epoch). */
  readonly lastEnd: number;
}

/** The lifecycle of one run of the proxy; see the module doc. */
export class Lifecycle {
  readonly #shutdown = new AbortController();
  readonly #closePending = new AbortController();
  readonly #onStop: Array<() => void> = [];
  readonly #cleanups: Array<() => Promise<void> | void> = [];
  #stopping = false;
  /** The wrapped server has not started listening yet (`--wrap`). */
  wrapStarting = false;
  /** The token backend failed the last lookup (until one succeeds). */
  tokenBackendDown = false;

  /** Aborted at shutdown (after the drain): sessions close with 1001. */
  get shutdownSignal(): AbortSignal {
    return this.#shutdown.signal;
  }

  /** Aborted when connections that are not sessions yet should close (a shutdown began). */
  get pendingSignal(): AbortSignal {
    return this.#closePending.signal;
  }

  /** True once stopping began (no more accepting). */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** Runs `fn` when stopping begins (stop accepting). */
  onStop(fn: () => void): void {
    this.#onStop.push(fn);
  }

  /** Runs `fn` at {@linkcode Lifecycle.close}, after later-registered ones. */
  defer(fn: () => Promise<void> | void): void {
    this.#cleanups.push(fn);
  }

  /**
   * Stops accepting, saying why (once). `closePending` also closes the
   * connections that are not sessions yet (a shutdown, not a timeout).
   */
  stop(why: string, options: { closePending?: boolean } = {}): void {
    if (options.closePending) this.#closePending.abort();
    if (this.#stopping) return;
    this.#stopping = true;
    logInfo("stopping", { why });
    void notifyStopping();
    for (const fn of this.#onStop) fn();
  }

  /** Closes every session now (1001) and every connection not a session yet. */
  shutdownNow(): void {
    this.#closePending.abort();
    this.#shutdown.abort();
  }

  /** `/readyz`. */
  ready(): ReadyState {
    if (this.#stopping) return { ok: false, why: "stopping" };
    if (this.wrapStarting) return { ok: false, why: "the wrapped server is not listening yet" };
    if (this.tokenBackendDown) {
      return { ok: false, why: "the token backend did not answer the last lookup" };
    }
    return { ok: true };
  }

  /** `--run-once`: the first WebSocket session's end stops accepting. */
  sessionEnded(kind: "ws" | "raw", runOnce: boolean): void {
    if (runOnce && kind === "ws") this.stop("--run-once: the first session ended");
  }

  /**
   * SIGINT/SIGTERM: a shutdown, sessions get `drainSeconds`; the same signal
   * again closes them at once. SIGHUP calls `onHangup`.
   */
  watchSignals(drainSeconds: number, onHangup: () => void): void {
    const onSignal = (sig: Deno.Signal) => () => {
      if (this.#stopping) {
        logWarn(`${sig} again: closing every session now`);
        this.shutdownNow();
        return;
      }
      this.stop(sig, { closePending: true });
      // Sessions get --drain-timeout to finish, then are closed with 1001.
      const t = setTimeout(() => this.#shutdown.abort(), drainSeconds * 1000);
      this.defer(() => clearTimeout(t));
    };
    const handlers: Array<[Deno.Signal, () => void]> = [
      ["SIGINT", onSignal("SIGINT")],
      ["SIGTERM", onSignal("SIGTERM")],
      ["SIGHUP", onHangup],
    ];
    for (const [s, h] of handlers) Deno.addSignalListener(s, h);
    this.defer(() => {
      for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
    });
  }

  /**
   * `--timeout` (stop accepting N s after start; sessions go on) and
   * `--idle-timeout` (stop once no session ran for N s); 0 = off.
   */
  startTimers(timeout: number, idleTimeout: number, activity: Activity): void {
    if (timeout > 0) {
      const t = setTimeout(() => this.stop(`--timeout ${timeout}s`), timeout * 1000);
      this.defer(() => clearTimeout(t));
    }
    if (idleTimeout > 0) {
      const t = setInterval(() => {
        // A connection still on its way to becoming a session counts as activity too.
        if (activity.connections > 0) return;
        if (activity.sessions === 0 && Date.now() - activity.lastEnd > idleTimeout * 1000) {
          this.stop(`--idle-timeout: no session for ${idleTimeout}s`);
        }
      }, 250);
      this.defer(() => clearInterval(t));
    }
  }

  /** Runs the clean-ups, last registered first. */
  async close(): Promise<void> {
    for (const c of this.#cleanups.splice(0).reverse()) await c();
  }
}
