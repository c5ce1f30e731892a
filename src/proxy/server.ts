/**
 * Listeners and the accept loop. vncws runs its own loop on `Deno.listen`
 * (not `Deno.serve`) so it can look at the first bytes of every connection
 * and keep backpressure in its own hands (DESIGN.md §2).
 * @module
 */
import type { HostPort } from "../net/address.ts";
import { formatHostPort } from "../net/address.ts";
import { DenoStream } from "../net/stream.ts";
import { encodeResponse, textResponse } from "../http/response.ts";
import { logDebug, logWarn } from "../base/log.ts";
import { handleConnection, type SessionContext } from "./session.ts";

/** Where to listen. */
export type ListenSpec =
  | { kind: "tcp"; addr: HostPort; preferIpv6?: boolean }
  | { kind: "unix"; path: string; mode: number };

/** Opens a listener. A bare port (hostname "") listens dual-stack on `[::]`, or 0.0.0.0 without IPv6. */
export function openListener(spec: ListenSpec): Deno.Listener {
  if (spec.kind === "unix") {
    try {
      const st = Deno.lstatSync(spec.path);
      if (st.isSocket) Deno.removeSync(spec.path);
    } catch { /* no stale socket */ }
    const l = Deno.listen({ transport: "unix", path: spec.path });
    Deno.chmodSync(spec.path, spec.mode);
    return l;
  }
  const { hostname, port } = spec.addr;
  if (hostname === "") {
    try {
      return Deno.listen({ hostname: "::", port });
    } catch (e) {
      if (e instanceof Deno.errors.AddrInUse) throw e;
      return Deno.listen({ hostname: "0.0.0.0", port });
    }
  }
  return Deno.listen({ hostname, port });
}

/** Human-readable address of a listener. */
export function describeListener(l: Deno.Listener): string {
  const a = l.addr;
  if (a.transport === "tcp" || a.transport === "udp") return formatHostPort(a.hostname, a.port);
  return `unix:${(a as Deno.UnixAddr).path}`;
}

/** Options for {@linkcode serve}. */
export interface ServeOptions {
  /** Max concurrent connections; more are answered 503 and closed. */
  maxConnections: number;
}

/** A running accept loop. */
export interface Server {
  /** Connections currently open. */
  readonly active: number;
  /** Stops accepting (listener closed); open connections continue. */
  stopAccepting(): void;
  /** Resolves when the accept loop ended and every connection finished. */
  finished: Promise<void>;
}

const busy = encodeResponse(
  textResponse(503, "too many connections, try again later", { "Retry-After": "5" }),
);

/** Accepts connections on `listener` and hands each to the session layer. */
export function serve(listener: Deno.Listener, ctx: SessionContext, options: ServeOptions): Server {
  let active = 0;
  let connections = 0;
  let accepting = true;
  const running = new Set<Promise<void>>();
  const loop = (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (!accepting || e instanceof Deno.errors.BadResource) break;
        // EMFILE and friends: log, back off a little, keep serving the others.
        logWarn("accept failed", { error: e instanceof Error ? e.message : String(e) });
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const stream = new DenoStream(conn);
      if (active >= options.maxConnections) {
        logWarn("refused", {
          client: stream.peer,
          status: 503,
          why: `--max-connections ${options.maxConnections} reached`,
        });
        stream.writeAll(busy).catch(() => {}).finally(() => stream.close());
        continue;
      }
      active++;
      // Every accepted connection gets a number, as websockify's handler ids.
      const p = handleConnection(stream, { ...ctx, connId: ++connections }).finally(() => {
        active--;
        running.delete(p);
      });
      running.add(p);
    }
    logDebug("accept loop ended");
  })();
  return {
    get active() {
      return active;
    },
    stopAccepting() {
      if (!accepting) return;
      accepting = false;
      try {
        listener.close();
      } catch { /* closed */ }
    },
    finished: loop.then(async () => {
      while (running.size > 0) await Promise.allSettled([...running]);
    }),
  };
}
