/**
 * The one accept loop: every listener of vncws (the proxy, the bridge, the
 * demo desktop, replay) accepts through it, so an accept error is handled
 * one way everywhere: a closed listener ends the loop, anything else
 * (EMFILE, ECONNABORTED) is logged and retried after a short pause instead
 * of stopping the server.
 * @module
 */
import { logDebug, logWarn } from "./log.ts";
import { sleep } from "./time.ts";

/** Something that accepts connections: a `Deno.Listener`, or an adapter over another kind. */
export interface Acceptor<C> {
  /** The next connection; rejects when the listener is closed or accept fails. */
  accept(): Promise<C>;
  /** Closes the listener; a pending accept rejects. */
  close(): void;
}

/** Options for {@linkcode acceptLoop}. */
export interface AcceptLoopOptions {
  /** Name for log lines ("proxy", "bridge", "demo", "replay"). */
  name?: string;
  /** Pause after a failed accept before the next one (default 100 ms). */
  retryMs?: number;
}

/** A running accept loop: stop it, count its connections, wait for them. */
export interface AcceptLoop {
  /** Handlers still running. */
  readonly active: number;
  /** Stops accepting (closes the listener); running handlers continue. Safe to call twice. */
  stop(): void;
  /** Resolves once the loop ended and every handler has settled. */
  readonly finished: Promise<void>;
}

/**
 * Accepts from `listener` until it is closed or {@linkcode AcceptLoop.stop}
 * is called, running `handle` for each connection without waiting for it.
 * `handle` should not throw; a rejection is logged and does not stop the loop.
 */
export function acceptLoop<C>(
  listener: Acceptor<C>,
  handle: (conn: C) => Promise<void> | void,
  options: AcceptLoopOptions = {},
): AcceptLoop {
  const name = options.name ?? "server";
  const retryMs = options.retryMs ?? 100;
  const running = new Set<Promise<void>>();
  let accepting = true;
  const stopped = new AbortController();
  const loop = (async () => {
    while (accepting) {
      let conn: C;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (!accepting || e instanceof Deno.errors.BadResource) break;
        logWarn("accept failed", {
          listener: name,
          error: e instanceof Error ? e.message : String(e),
        });
        await sleep(retryMs, stopped.signal);
        continue;
      }
      const p: Promise<void> = Promise.resolve()
        .then(() => handle(conn))
        .catch((e) =>
          logWarn("connection handler failed", {
            listener: name,
            error: e instanceof Error ? e.message : String(e),
          })
        )
        .finally(() => running.delete(p));
      running.add(p);
    }
    logDebug("accept loop ended", { listener: name });
  })();
  return {
    get active() {
      return running.size;
    },
    stop() {
      if (!accepting) return;
      accepting = false;
      stopped.abort();
      try {
        listener.close();
      } catch { /* already closed */ }
    },
    finished: loop.then(async () => {
      while (running.size > 0) await Promise.allSettled([...running]);
    }),
  };
}
