/**
 * vncws as a library: a WebSocket ↔ TCP proxy for VNC (websockify-compatible)
 * inside your own Deno program, with the command line's behaviour and
 * options, and hooks for what a program replaces (where a session goes, who
 * may open one, what happens when it ends).
 *
 * ```ts
 * import { refuse, serve } from "./mod.ts"; // from a checkout of vncws
 *
 * const desks = new Map([["demo", { kind: "tcp", hostname: "127.0.0.1", port: 5900 } as const]]);
 * const server = await serve({
 *   args: ["127.0.0.1:6080"],
 *   hooks: {
 *     route: ({ token }) => desks.get(token ?? "") ?? refuse(404, "no such desk"),
 *     onSessionEnd: (s) => console.log(s.target, s.bytesUp, s.bytesDown),
 *   },
 * });
 * console.log("listening on", server.addr);
 * await server.finished;
 * ```
 *
 * This module's exports are the stable API (semantic versioning); everything
 * under `src/` is internal and may change in any release. The command line
 * (`main.ts`) is built on {@linkcode serve}'s construction. `--workers` and
 * `--daemon` belong to the command line only: a library server is one
 * server in the embedding process, and signals are the program's own.
 * @module
 */
import type { Refusal, RefusalKind } from "./src/auth/refusal.ts";
import type { Level } from "./src/base/log.ts";
import type { BridgeConfig, BridgeListen } from "./src/config/bridge.ts";
import { BRIDGE_DEFAULTS } from "./src/config/bridge.ts";
import {
  type BanConfig,
  type Config,
  defaultConfig,
  type JwtSecretEncoding,
  type Limits,
  type TargetTlsConfig,
  type TlsConfig,
  type WorkerRole,
  type WrapConfig,
  type WrapMode,
} from "./src/config/config.ts";
import type { HostPort, Target } from "./src/net/address.ts";
import type { CertFiles } from "./src/net/tls_options.ts";
import type { SessionInfo } from "./src/metrics/sessions.ts";
import {
  hookRefusal,
  type HookRequest,
  type ProxyHooks,
  type RouteAnswer,
  type SessionRecord,
  type SessionStartInfo,
} from "./src/app/hooks.ts";
import {
  type CloseOptions,
  createHandler as createProxyHandler,
  startProxy,
} from "./src/app/start.ts";
import { startBridge } from "./src/bridge/main.ts";
import type { Socket as NodeSocket } from "node:net";
import { parseCommandLine } from "./src/cli/cli.ts";
import { AUTH_ENV, parseBridgeArgs, readTlsFiles } from "./src/cli/bridge.ts";

export {
  CLOSE_CLIENT_TOO_FAST,
  DEFAULT_HIGH_WATER_MARK,
  DEFAULT_LOW_WATER_MARK,
  DEFAULT_MAX_QUEUED_BYTES,
  REASON_CLIENT_TOO_FAST,
  upgradeToTarget,
  vncwsHandler,
} from "./src/web/deno_serve.ts";
export type {
  DenoServeRelayOptions,
  DenoServeSessionResult,
  RouteAnswer as DenoServeRouteAnswer,
  VncwsHandlerOptions,
} from "./src/web/deno_serve.ts";

export type {
  BanConfig,
  BridgeConfig,
  BridgeListen,
  CertFiles,
  CloseOptions,
  Config,
  HookRequest,
  HostPort,
  JwtSecretEncoding,
  Level,
  Limits,
  ProxyHooks,
  Refusal,
  RefusalKind,
  RouteAnswer,
  SessionInfo,
  SessionRecord,
  SessionStartInfo,
  Target,
  TargetTlsConfig,
  TlsConfig,
  WorkerRole,
  WrapConfig,
  WrapMode,
};

/**
 * A proxy's settings: the command line's arguments (`args`, exactly as
 * `vncws` takes them, `--config FILE` excepted) or a `config` object (the
 * fields the command line fills; unset ones take their defaults, and no
 * listen address means 127.0.0.1 on a free port), and the hooks.
 */
export interface ServeOptions {
  /** Arguments as on the command line: `["6080", "127.0.0.1:5900"]`. */
  args?: string[];
  /** Settings as an object, instead of `args`. */
  config?: Partial<Config>;
  /** What the program replaces; see {@linkcode ProxyHooks}. */
  hooks?: ProxyHooks;
}

/** A running vncws server: what {@linkcode serve} resolves. */
export interface VncwsServer {
  /** The listening address (`addr.port` when asked for port 0). */
  readonly addr: Deno.Addr;
  /** The live sessions (copies, byte counts as of now). */
  sessions(): SessionInfo[];
  /**
   * Stops: no new connections, connections that are not sessions yet
   * closed, then sessions closed with 1001 — at once, or after letting them
   * finish for `drain` seconds (`true` = `--drain-timeout`). Resolves when
   * all is closed.
   */
  close(options?: CloseOptions): Promise<void>;
  /**
   * Applies new routing and access settings (tokens, auth, IP lists,
   * limits), as SIGHUP with `--config` does; sessions keep running and the
   * hooks stay. Other settings need a new server.
   */
  reload(options: Omit<ServeOptions, "hooks">): Promise<void>;
  /** Resolves the exit code the command line would exit with, once stopped. */
  readonly finished: Promise<number>;
}

/** A proxy without a listener, for {@linkcode handleConnection}. */
export interface VncwsHandler {
  /** The live sessions. */
  sessions(): SessionInfo[];
  /** Stops, as {@linkcode VncwsServer.close}; later connections are closed at once. */
  close(options?: CloseOptions): Promise<void>;
  /** New routing and access settings, as {@linkcode VncwsServer.reload}. */
  reload(options: Omit<ServeOptions, "hooks">): Promise<void>;
}

/** A handler's own part: kept off the public type so connections go through one function. */
const handlers = new WeakMap<VncwsHandler, (conn: Deno.Conn | NodeSocket) => Promise<void>>();

/** A refusal to answer from a hook: HTTP `status` (400–599) with `reason` as the body. */
export function refuse(status: number, reason: string, headers?: Record<string, string>): Refusal {
  return hookRefusal(status, reason, headers);
}

/** The Config for `options`; throws for what only the command line may do. */
function configOf(options: Omit<ServeOptions, "hooks">, routed: boolean): Config {
  let config: Config;
  if (options.args) {
    const cmd = parseCommandLine(options.args, { routed });
    if (cmd.kind !== "run") throw new Error("args must describe a proxy, not --help or --version");
    config = cmd.config;
  } else {
    const given = options.config ?? {};
    const base = defaultConfig();
    config = {
      ...base,
      ...given,
      limits: { ...base.limits, ...given.limits },
      bans: { ...base.bans, ...given.bans },
    };
    if (!config.listen && config.unixListen === undefined && !config.inetd) {
      config.listen = { hostname: "127.0.0.1", port: 0 };
    }
  }
  if (config.workers > 1) {
    throw new Error("--workers is for the command line only; run one server per process");
  }
  if (config.daemon) throw new Error("--daemon is for the command line only");
  return config;
}

/**
 * Starts a vncws server with the command line's behaviour: listens, serves
 * until {@linkcode VncwsServer.close}. Rejects with what to fix when it
 * cannot start (a bad option, a file, the port in use).
 */
export async function serve(options: ServeOptions): Promise<VncwsServer> {
  const routed = options.hooks?.route !== undefined;
  const p = await startProxy(configOf(options, routed), {
    hooks: options.hooks,
    sessionTable: true,
  });
  return {
    addr: p.addr,
    finished: p.finished,
    sessions: () => p.sessions(),
    close: (o) => p.close(o),
    reload: (o) => p.reload(configOf(o, routed)),
  };
}

/**
 * Builds a proxy without a listener, once, for a program that accepts
 * connections itself and passes each to {@linkcode handleConnection}.
 * The listen settings, the ops listener and timers are not used.
 */
export async function createHandler(options: ServeOptions): Promise<VncwsHandler> {
  const routed = options.hooks?.route !== undefined;
  const h = await createProxyHandler(configOf(options, routed), {
    hooks: options.hooks,
    sessionTable: true,
  });
  const handler: VncwsHandler = {
    sessions: () => h.sessions(),
    close: (o) => h.close(o),
    reload: (o) => h.reload(configOf(o, routed)),
  };
  handlers.set(handler, (conn) => h.handle(conn));
  return handler;
}

/**
 * Runs one accepted connection (`Deno.Conn`, `Deno.TlsConn`, a unix socket,
 * or a `node:net` `Socket` from a server the program owns) through the
 * proxy's pipeline until it ends; never rejects. The connection is closed
 * at the end.
 */
export function handleConnection(
  conn: Deno.Conn | NodeSocket,
  handler: VncwsHandler,
): Promise<void> {
  const handle = handlers.get(handler);
  if (!handle) throw new TypeError("handler must come from createHandler()");
  return handle(conn);
}

/**
 * The client bridge's settings (`vncws bridge`): its arguments, or a
 * `config` with at least `url` (a local port of 127.0.0.1 on a free port
 * unless `listen` says otherwise).
 */
export interface BridgeOptions {
  /** Arguments as `vncws bridge` takes them: `["5900", "wss://host/websockify"]`. */
  args?: string[];
  /** Settings as an object, instead of `args`. */
  config?: Partial<Omit<BridgeConfig, "url">> & { url?: string | URL };
}

/** A running bridge: what {@linkcode bridge} resolves. */
export interface VncwsBridge {
  /** The local listening address. */
  readonly addr: Deno.Addr;
  /** Stops accepting and ends the sessions. */
  close(): Promise<void>;
  /** Resolves the exit code once stopped. */
  readonly finished: Promise<number>;
}

/**
 * Starts the client bridge: a local port whose every connection is bridged
 * to its own WebSocket. Rejects with what to fix when it cannot start.
 */
export async function bridge(options: BridgeOptions): Promise<VncwsBridge> {
  let config: BridgeConfig;
  if (options.args) {
    const cmd = parseBridgeArgs(options.args, { [AUTH_ENV]: Deno.env.get(AUTH_ENV) });
    if (cmd.kind !== "run") throw new Error("args must describe a bridge, not --help");
    config = cmd.config;
  } else {
    const c = options.config ?? {};
    config = {
      listen: { kind: "tcp", hostname: "127.0.0.1", port: 0 },
      allowNoProtocol: false,
      headers: [],
      cookies: [],
      insecure: false,
      tlsFiles: {},
      once: false,
      verbose: 0,
      ...BRIDGE_DEFAULTS,
      ...c,
      url: c.url === undefined ? undefined : new URL(c.url),
    };
    if (!config.url && !config.urlCommand) throw new Error("bridge needs a url or a urlCommand");
  }
  if (config.listen.kind === "stdio") throw new Error("stdio is for the command line only");
  const b = await startBridge(config, await readTlsFiles(config));
  return { addr: b.addr, close: () => b.close(), finished: b.finished };
}
