/**
 * The proxy's listener and accept loop. vncws runs its own loop (not
 * `Deno.serve`) so it can look at the first bytes of every connection and
 * keep backpressure in its own hands. Accepting is `base/accept_loop.ts`'s
 * loop; this module adds `--max-connections` (more are answered 503) and
 * numbers every connection it serves.
 * @module
 */
import { type Refusal, refusal } from "../auth/refusal.ts";
import { acceptLoop } from "../base/accept_loop.ts";
import { DenoStream } from "../net/stream.ts";
import { handleConnection } from "./connection.ts";
import type { ProxyContext } from "./context.ts";
import { refuse } from "./refuse.ts";

/** Options for {@linkcode serve}. */
export interface ServeOptions {
  /** Max concurrent connections; more are answered 503 and closed. */
  maxConnections: number;
  /**
   * Numbering: the first connection is `firstId` (default 1), each next one
   * `idStep` more (default 1). Worker k of N `--workers` numbers k, k+N, …,
   * so ids (log lines, the status page, `--record` files) are the host's.
   */
  firstId?: number;
  /** See `firstId`. */
  idStep?: number;
}

/** A running proxy server. */
export interface Server {
  /** Connections currently served (not counting ones refused for `--max-connections`). */
  readonly active: number;
  /** Stops accepting (listener closed); open connections continue. */
  stopAccepting(): void;
  /** Resolves when the accept loop ended and every connection finished. */
  finished: Promise<void>;
}

/** Accepts connections on `listener` and runs each through {@linkcode handleConnection}. */
export function serve(listener: Deno.Listener, ctx: ProxyContext, options: ServeOptions): Server {
  let active = 0;
  const step = options.idStep ?? 1;
  let nextId = options.firstId ?? 1;
  const busy: Refusal = {
    ...refusal("busy", 503, "too many connections, try again later", { "Retry-After": "5" }),
    detail: `--max-connections ${options.maxConnections} reached`,
  };
  const loop = acceptLoop(listener, async (conn: Deno.Conn) => {
    const stream = new DenoStream(conn);
    if (active >= options.maxConnections) {
      try {
        await refuse(stream, busy, { http: true }, ctx.sessions);
      } finally {
        stream.close();
      }
      return;
    }
    active++;
    try {
      // Every served connection gets a number, as websockify's handler ids.
      const id = nextId;
      nextId += step;
      await handleConnection(stream, ctx, id);
    } finally {
      active--;
    }
  }, { name: "proxy" });
  return {
    get active() {
      return active;
    },
    stopAccepting: () => loop.stop(),
    finished: loop.finished,
  };
}
