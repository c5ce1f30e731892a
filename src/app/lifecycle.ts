/**
 * The proxy's lifecycle: when it stops accepting, when sessions are closed,
 * and whether it is ready. Stopping has two strengths:
 * - a **shutdown** (SIGINT/SIGTERM, the wrapped command gone) stops
 *   accepting, closes connections that are not sessions yet at once, and
 *   gives sessions `--drain-timeout` before they are closed with 1001. A
 *   signal first turns `/readyz` to 503 and, with `--drain-delay`, keeps
 *   accepting that long before it stops, so a load balancer sees the drain
 *   and moves traffic away before the listener closes. Each further signal
 *   skips one stage: during the delay it stops accepting now (the drain
 *   begins), during the drain it closes every session now;
 * - `--timeout`, `--idle-timeout` and `--run-once` only stop accepting:
 *   what was accepted is still served.
 * SIGHUP reloads (the caller says what). Readiness (`/readyz`) is false while
 * stopping, while a wrapped server is starting and while the token backend
 * is down.
 * @module
 */
import { logDebug, logInfo, logWarn } from "../base/log.ts";
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

/** Settings of {@linkcode Lifecycle.watchSignals}. */
export interface ShutdownOptions {
  /** `--drain-delay`: seconds of still accepting, not ready, after the first signal. */
  drainDelay: number;
  /** `--drain-timeout`: seconds sessions may finish after accepting stopped. */
  drainTimeout: number;
  /** Sessions relaying now, for the log line when the drain ends. */
  openSessions?: () => number;
  /**
   * The one signal that moves the shutdown on, instead of SIGINT/SIGTERM
   * (which are then ignored): a `--workers` worker, stopped by its parent.
   */
  stopSignal?: Deno.Signal;
}

/** Where a signalled shutdown is: each signal moves it one stage on. */
type ShutdownStage = "running" | "delay" | "drain" | "closing";

/** The lifecycle of one run of the proxy; see the module doc. */
export class Lifecycle {
  readonly #shutdown = new AbortController();
  readonly #closePending = new AbortController();
  readonly #onStop: Array<() => void> = [];
  readonly #cleanups: Array<() => Promise<void> | void> = [];
  #stopping = false;
  #notified = false;
  #stage: ShutdownStage = "running";
  /** Why `/readyz` already says 503 while vncws still accepts (`--drain-delay`). */
  #draining: string | undefined;
  #delayTimer: ReturnType<typeof setTimeout> | undefined;
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
    this.#notifyStopping();
    for (const fn of this.#onStop) fn();
  }

  /** systemd's `STOPPING=1`, once: at the first signal, or when accepting stops. */
  #notifyStopping(): void {
    if (this.#notified) return;
    this.#notified = true;
    void notifyStopping();
  }

  /** Closes every session now (1001) and every connection not a session yet. */
  shutdownNow(): void {
    this.#closePending.abort();
    this.#shutdown.abort();
  }

  /** `/readyz`. */
  ready(): ReadyState {
    if (this.#stopping) return { ok: false, why: "stopping" };
    if (this.#draining) return { ok: false, why: this.#draining };
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
   * SIGINT/SIGTERM: a shutdown, one stage per signal (see the module doc);
   * SIGHUP calls `onHangup`.
   */
  watchSignals(options: ShutdownOptions, onHangup: () => void): void {
    const stage = options.stopSignal;
    const handlers: Array<[Deno.Signal, () => void]> = stage
      ? [
        // A --workers worker: the parent sends `stage`; SIGINT/SIGTERM sent to the whole
        // group (systemd, pkill) must neither kill it nor skip a stage of its drain.
        [stage, () => this.signal("parent", options)],
        ["SIGINT", () => logDebug("SIGINT ignored: the --workers parent stops this worker")],
        ["SIGTERM", () => logDebug("SIGTERM ignored: the --workers parent stops this worker")],
      ]
      : [
        ["SIGINT", () => this.signal("SIGINT", options)],
        ["SIGTERM", () => this.signal("SIGTERM", options)],
      ];
    handlers.push(["SIGHUP", onHangup]);
    for (const [s, h] of handlers) Deno.addSignalListener(s, h);
    this.defer(() => {
      for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
    });
  }

  /**
   * One SIGINT/SIGTERM (what {@linkcode Lifecycle.watchSignals} calls):
   * the first begins the shutdown (not ready at once; with a drain delay,
   * accepting goes on that long), each further one skips a stage: the
   * rest of the delay, then the rest of the drain.
   */
  signal(sig: string, options: ShutdownOptions): void {
    switch (this.#stage) {
      case "running":
        if (options.drainDelay > 0 && !this.#stopping) {
          this.#stage = "delay";
          this.#draining = `stopping (${sig}): new sessions are still taken for ` +
            `--drain-delay ${options.drainDelay}s, then the listener closes`;
          logInfo(`${sig}: /readyz answers 503 now; accepting for --drain-delay, then stopping`, {
            seconds: options.drainDelay,
          });
          this.#notifyStopping();
          this.#delayTimer = setTimeout(() => this.#drain(sig, options), options.drainDelay * 1000);
          this.defer(() => clearTimeout(this.#delayTimer));
          return;
        }
        this.#drain(sig, options);
        return;
      case "delay":
        logWarn(`${sig} again: skipping the rest of --drain-delay; stopping now`);
        clearTimeout(this.#delayTimer);
        this.#drain(sig, options);
        return;
      default:
        logWarn(`${sig} again: closing every session now`);
        this.#stage = "closing";
        this.shutdownNow();
    }
  }

  /** Stops accepting; sessions get `--drain-timeout`, then are closed with 1001. */
  #drain(sig: string, options: ShutdownOptions): void {
    this.#stage = "drain";
    if (this.#stopping) {
      // Accepting stopped already (--timeout, --idle-timeout): only the drain begins.
      logInfo(`${sig}: sessions get --drain-timeout, then close`, {
        seconds: options.drainTimeout,
      });
    }
    this.stop(sig, { closePending: true });
    const t = setTimeout(() => {
      this.#stage = "closing";
      const open = options.openSessions?.() ?? 0;
      if (open > 0) {
        // The session end lines follow, each with its code (1001 for WebSocket sessions).
        logWarn("--drain-timeout over: closing the sessions still open", {
          sessions: open,
          seconds: options.drainTimeout,
          how: "WebSocket: close frame 1001 Going away; raw: the connection is closed",
        });
      }
      this.#shutdown.abort();
    }, options.drainTimeout * 1000);
    this.defer(() => clearTimeout(t));
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
