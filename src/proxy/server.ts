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
import type { HostPort } from "../net/address.ts";
import { formatHostPort } from "../net/address.ts";
import { DenoStream } from "../net/stream.ts";
import { handleConnection } from "./connection.ts";
import type { ProxyContext } from "./context.ts";
import { refuse } from "./refuse.ts";

/** Where to listen over TCP. (`--unix-listen` opens through `unix_listener.ts`.) */
export interface TcpListenSpec {
  /** Address and port; hostname "" = every interface. */
  addr: HostPort;
  /** `--prefer-ipv6`. */
  preferIpv6?: boolean;
}

/** Opens a TCP listener. A bare port (hostname "") listens dual-stack on `[::]`, or 0.0.0.0 without IPv6. */
export function openTcpListener(spec: TcpListenSpec): Deno.Listener {
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
  let connections = 0;
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
      await handleConnection(stream, ctx, ++connections);
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
