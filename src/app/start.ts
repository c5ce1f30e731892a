/**
 * A validated Config becomes a running proxy: the one construction both the
 * command line (src/app/run.ts, which adds signals) and the library
 * (`mod.ts`) use. Each concern has its own module — routing and access
 * (`routing.ts`), the listener (`listeners.ts`), stopping and readiness
 * (`lifecycle.ts`), the metrics listener (`ops.ts`), a program's hooks
 * (`hooks.ts`) — and the proxy itself is src/proxy/. {@linkcode startProxy}
 * listens; {@linkcode createHandler} builds the same context for a program
 * that accepts connections itself.
 * @module
 */
import { type Config, hostLimitsPath, type TlsConfig } from "../config/config.ts";
import { formatTarget, type Target } from "../net/address.ts";
import { connectTarget } from "../net/connect.ts";
import { logError, logInfo, logWarn, reopenLogFile } from "../base/log.ts";
import { healthResponse } from "../http/health.ts";
import { createSessionBook, type SessionBook } from "../metrics/session_book.ts";
import type { SessionInfo } from "../metrics/sessions.ts";
import type { WrapHandle } from "../wrap/supervisor.ts";
import { fdLimitWarning, openFileLimit } from "../service/fd_limit.ts";
import { serve } from "../proxy/server.ts";
import type { Socket } from "node:net";
import { handleConnection } from "../proxy/connection.ts";
import type { ProxyContext } from "../proxy/context.ts";
import { createSessionLife } from "../proxy/session_life.ts";
import type { TlsServer } from "../net/tls_server.ts";
import { servesTls } from "../net/tls_options.ts";
import type { TlsConnector } from "../net/tls_client.ts";
import { DenoStream } from "../net/stream.ts";
import { Lifecycle } from "./lifecycle.ts";
import { openProxyListener } from "./listeners.ts";
import { startOps } from "./ops.ts";
import { createRouting, type Routing } from "./routing.ts";
import { createBans } from "./guard.ts";
import { startLogging } from "./logging.ts";
import { attachLogHook, type ProxyHooks, routerHooks, sessionHooks } from "./hooks.ts";

/** How {@linkcode ProxyHandle.close} stops: `drain` true = `--drain-timeout`, a number = seconds. */
export interface CloseOptions {
  /** Let sessions finish (up to this many seconds; true = `--drain-timeout`) before 1001. */
  drain?: boolean | number;
}

/** A proxy's live sessions and its stop, shared by a listening server and a handler. */
export interface ProxyControl {
  /** The live sessions (copies; byte counts as of now). */
  sessions(): SessionInfo[];
  /**
   * Stops accepting, closes connections that are not sessions yet, and
   * closes sessions with 1001 (after the drain, if asked); resolves when
   * everything is closed.
   */
  close(options?: CloseOptions): Promise<void>;
  /** Re-reads routing and access settings (tokens, auth, IP lists, limits), as SIGHUP. */
  reload(config: Config): Promise<void>;
}

/** What {@linkcode startProxy} returns. */
export interface RunningProxy extends ProxyControl {
  /** The listening address. */
  readonly addr: Deno.Addr;
  /** Resolves the exit code once the server stopped and cleaned up. */
  readonly finished: Promise<number>;
  /** The lifecycle, for the command line's signals. */
  readonly lifecycle: Lifecycle;
  /** Sessions relaying now (kept with or without the live table). */
  openSessions(): number;
  /** The command line's SIGHUP: log file, certificates, and `--config` when `reload` is given. */
  hangup(reload?: () => Promise<Config>): void;
}

/** What {@linkcode createHandler} returns: a proxy without a listener. */
export interface ProxyHandler extends ProxyControl {
  /** Runs one accepted connection through the proxy until it ends (never rejects). */
  handle(conn: Deno.Conn | Socket): Promise<void>;
}

/** Everything a proxy's connections share, built once. */
interface Core {
  config: Config;
  life: Lifecycle;
  book: SessionBook;
  routing: Routing;
  ctx: ProxyContext;
  tlsServer?: TlsServer;
  /** The fixed target (positional, demo, a worker's wrapped server). */
  target?: Target;
  /** Wrap mode's handle, once the wrapped server is started. */
  wrap?: WrapHandle;
  readiness: () => { ok: boolean; why?: string; warning?: string };
  fleetSessions?: (local: SessionInfo[]) => Promise<SessionInfo[]>;
  exitCode: number;
}

/** Builds the proxy's context: logging, routing, sessions, TLS, bans. */
async function createCore(config: Config, hooks: ProxyHooks, table: boolean): Promise<Core> {
  const life = new Lifecycle();
  // Features a run may not use (syslog, the demo, TLS, wrap mode, the pid
  // file) are loaded when asked for: every module costs start-up time.
  const closeLog = await startLogging(config);
  if (closeLog) life.defer(closeLog);
  const detachLog = attachLogHook(hooks);
  if (detachLog) life.defer(detachLog);

  let target: Target | undefined = config.target;
  if (config.worker?.wrapPort !== undefined) {
    // --workers in wrap mode: the parent runs the one wrapped server on this port.
    const port = config.worker.wrapPort;
    target = { kind: "tcp", hostname: "127.0.0.1", port, alternates: ["::1"] };
  }
  if (config.demo) {
    // The demo desktop is an RFB server on loopback: the same data path as a real one.
    const { startDemoServer } = await import("../demo/rfb_server.ts");
    const demo = await startDemoServer({ hostname: "127.0.0.1", port: 0 });
    target = { kind: "tcp", hostname: "127.0.0.1", port: demo.addr.port };
    life.defer(() => demo.close());
  }
  const core = { config, life, target, exitCode: 0 } as Core;
  // Wrap mode fills core.wrap in once the wrapped server is started (its port can change).
  const currentTarget = (): Target | undefined => core.wrap?.target ?? target;
  // --state-redis: the fleet's sessions and limits in Redis (loaded only then).
  const fleet = config.stateRedis
    ? (await import("./fleet.ts")).startFleet({
      source: config.stateRedis,
      replica: `${Deno.hostname()}:${Deno.pid}`,
      ttlMs: stateTtlMs(),
    })
    : undefined;
  if (fleet) life.defer(() => fleet.close());
  core.fleetSessions = fleet && ((local) => fleet.sessions(local));
  // --workers: the host's limits, kept by the parent (its slots give way to --state-redis's).
  const host = config.worker
    ? await (await import("../auth/limits_host.ts")).connectHostLimits(
      hostLimitsPath(config.worker),
      config.worker.id,
    )
    : undefined;
  if (host) life.defer(() => host.close());
  // /readyz, here and on --metrics: a fleet state outage is a warning, not "not ready".
  core.readiness = () => {
    const r = life.ready();
    const warning = r.ok ? fleet?.warning() : undefined;
    return warning ? { ...r, warning } : r;
  };
  const notices = sessionHooks(hooks);
  const book = createSessionBook(config, {
    onStart: notices.onStart,
    onEnd: (start, result, ms) => {
      life.sessionEnded(start.kind, config.runOnce);
      notices.onEnd?.(start, result, ms);
    },
    fleet: fleet?.registry,
    table,
  });
  const routing = await createRouting(config, {
    target: currentTarget,
    slotStore: fleet?.slots ?? host?.slots,
    rateStore: host?.rate,
    hooks: routerHooks(hooks),
    onLookup: (result) => {
      // /readyz: the token backend counts as down from a failed lookup until one succeeds.
      if (result === "found") life.tokenBackendDown = false;
      if (result === "error") life.tokenBackendDown = true;
      book.metrics?.tokenLookups.labels(result).inc();
    },
  });
  life.defer(() => routing.close());

  // TLS files are read before listening, so a bad file stops the start with its name.
  const tlsServer: TlsServer | undefined = servesTls(config.tls)
    ? await (await import("../net/tls_server.ts")).createTlsServer(config.tls, {
      handshakeTimeoutMs: config.limits.headTimeout * 1000,
    })
    : undefined;
  if (tlsServer) life.defer(() => tlsServer.close());
  const tlsConnector: TlsConnector | undefined = config.targetTls.enabled
    ? await (await import("../net/tls_client.ts")).createTlsConnector(config.targetTls, {
      handshakeTimeoutMs: config.limits.connectTimeout * 1000,
    })
    : undefined;

  const guard = config.bans.after > 0 ? await createBans(config, book.metrics) : undefined;
  if (guard) life.defer(() => guard.close());

  core.book = book;
  core.routing = routing;
  core.tlsServer = tlsServer;
  core.ctx = {
    config,
    access: routing.access,
    guard,
    connector: {
      connect: (t) =>
        connectTarget(t, { timeoutMs: config.limits.connectTimeout * 1000, tls: tlsConnector }),
    },
    sessions: book,
    web: routing.web,
    // /healthz and /readyz on the proxy's port too: a balancer checks the port it sends to.
    health: (head) => healthResponse(head, core.readiness),
    tls: tlsServer?.upgrade,
    lifetimes: createSessionLife({
      maxSession: config.limits.maxSession,
      tokenRecheck: config.tokenPlugin ? config.limits.tokenRecheck : 0,
    }),
    signal: life.shutdownSignal,
    stopping: life.pendingSignal,
  };
  return core;
}

/** Sessions, stop and reload over a core; `finished` resolves once everything is closed. */
function control(core: Core, finished: Promise<unknown>): ProxyControl {
  const { config, life, book, routing } = core;
  return {
    sessions: () => book.table?.list() ?? [],
    async close(options = {}) {
      const d = options.drain === true ? config.drainTimeout : Number(options.drain ?? 0);
      if (d > 0) {
        life.signal("close()", { drainDelay: 0, drainTimeout: d, openSessions: () => book.active });
      } else {
        life.stop("close()", { closePending: true });
        life.shutdownNow();
      }
      await finished;
    },
    async reload(next) {
      // The ban list keeps its state across reloads, so its settings stay too.
      if (JSON.stringify(next.bans) !== JSON.stringify(config.bans)) {
        logWarn("--ban-* settings changed take effect at the next restart");
      }
      await routing.reload(next);
    },
  };
}

/** Options for {@linkcode startProxy} and {@linkcode createHandler}. */
export interface StartOptions {
  /** What the program replaces (the library's hooks). */
  hooks?: ProxyHooks;
  /** Keep the live-session table even without `--metrics` (the library's `sessions()`). */
  sessionTable?: boolean;
}

/**
 * Starts the proxy on `config`: listens and serves until closed. Signals
 * are the caller's (src/app/run.ts adds them for the command line).
 * Rejects when it cannot start (a bad file, the port in use).
 */
export async function startProxy(
  config: Config,
  options: StartOptions = {},
): Promise<RunningProxy> {
  const core = await createCore(config, options.hooks ?? {}, options.sessionTable ?? false);
  const { life, book, routing, tlsServer, ctx, target } = core;
  let listening;
  try {
    listening = await openProxyListener(config, tlsServer !== undefined);
  } catch (e) {
    await life.close();
    throw e;
  }
  const { listener, description, cleanup } = listening;
  if (cleanup) life.defer(cleanup);
  const server = serve(listener, ctx, {
    maxConnections: config.limits.maxConnections,
    // --workers: worker k of N numbers its connections k, k+N, … (unique on the host).
    firstId: config.worker?.id,
    idStep: config.worker ? config.workers : undefined,
  });
  life.onStop(() => server.stopAccepting());
  const fdWarning = fdLimitWarning(config.limits.maxConnections, {
    perSession: config.record ? 3 : 2,
    limit: openFileLimit(),
  });
  if (fdWarning) logWarn(fdWarning);
  logInfo(`listening on ${description}`, {
    target: config.demo ? "demo desktop" : target ? formatTarget(target) : undefined,
  });
  if (config.wrap && !config.worker) {
    // websockify's order: listen first, then start the command, whose bind of
    // the listen port the shim moves to a private loopback port.
    let started: WrapHandle;
    try {
      const { startWrap } = await import("../wrap/supervisor.ts");
      started = await startWrap(config.wrap, { listenPort: config.listen!.port });
    } catch (e) {
      server.stopAccepting();
      await server.finished;
      await life.close();
      throw e;
    }
    core.wrap = started;
    life.wrapStarting = true;
    life.defer(() => started.stop()); // runs last: sessions end first
    started.done.then((code) => {
      core.exitCode = code;
      life.stop(`the wrapped command exited with code ${code}`, { closePending: true });
      life.shutdownNow();
    });
    try {
      await started.ready;
      life.wrapStarting = false;
      logInfo("wrapped server ready", {
        command: config.wrap.command[0],
        target: formatTarget(started.target),
      });
    } catch (e) {
      logError(e instanceof Error ? e.message : String(e));
      core.exitCode = 1;
      life.stop("the wrapped server did not start", { closePending: true });
      life.shutdownNow();
    }
  }
  // With --workers, the first worker names the URLs (every worker serves them).
  if (config.web !== null && (config.worker?.id ?? 1) === 1) {
    for (const url of viewerUrls(listener, config.tls)) logInfo(`open ${url}`);
  }
  if (config.pidFile) {
    const { writePidFile } = await import("../service/pid_file.ts");
    life.defer(writePidFile(config.pidFile));
  }
  const closeOps = await startOps(config, {
    book,
    ready: core.readiness,
    fleetSessions: core.fleetSessions,
    wrapRestarts: () => core.wrap?.restarts ?? 0,
    checkAddress: (address) => routing.checkAddress(address),
    tlsCertificates: () => tlsServer?.certificates() ?? [],
  });
  if (closeOps) life.defer(closeOps);
  life.startTimers(config.timeout, config.idleTimeout, {
    get connections() {
      return server.active;
    },
    get sessions() {
      return book.active;
    },
    get lastEnd() {
      return book.lastEnd;
    },
  });
  const finished = (async () => {
    await server.finished;
    await life.close();
    logInfo("stopped");
    return core.exitCode;
  })();
  const ctl = control(core, finished);
  return {
    ...ctl,
    addr: listener.addr,
    finished,
    lifecycle: life,
    openSessions: () => book.active,
    hangup(reload) {
      // SIGHUP: reopen the log file (logrotate) and re-read certificates; sessions go on.
      logInfo("SIGHUP: reloading");
      reopenLogFile();
      tlsServer?.reload().catch((e) =>
        logWarn("TLS reload failed; the old certificate stays in use", {
          error: e instanceof Error ? e.message : String(e),
        })
      );
      if (!reload) return;
      // Routing and access (tokens, auth, IP lists, limits) follow the file;
      // sessions keep running. Other settings need a restart.
      reload()
        .then((next) => ctl.reload(next))
        .then(() => logInfo("routing and access settings reloaded from --config"))
        .catch((e) =>
          logWarn("reload of --config failed; the old settings stay", {
            error: e instanceof Error ? e.message : String(e),
          })
        );
    },
  };
}

/**
 * The proxy's context without a listener, for a program that accepts
 * connections itself: built once, so each {@linkcode ProxyHandler.handle}
 * costs what an accepted connection costs the proxy's own server. The
 * listen address, wrap mode, the ops listener, timers and `--pid-file`
 * are not used.
 */
export async function createHandler(
  config: Config,
  options: StartOptions = {},
): Promise<ProxyHandler> {
  const core = await createCore(config, options.hooks ?? {}, options.sessionTable ?? false);
  const { life, ctx } = core;
  const open = new Set<Promise<void>>();
  let nextId = 1;
  let allDone: () => void = () => {};
  let drained = new Promise<void>((r) => allDone = r);
  const finished = (async () => {
    await new Promise<void>((r) => life.onStop(r));
    if (open.size > 0) await drained;
    await life.close();
  })();
  return {
    ...control(core, finished),
    async handle(conn) {
      if (life.stopping) {
        if (isNodeSocket(conn)) conn.destroy();
        else conn.close();
        return;
      }
      // A node:net socket (a Node-style server the program owns; its module is loaded only
      // then) or a Deno connection.
      const stream = isNodeSocket(conn)
        ? new (await import("../net/node_stream.ts")).NodeSocketStream(conn)
        : new DenoStream(conn);
      const run = handleConnection(stream, ctx, nextId++);
      open.add(run);
      try {
        await run;
      } finally {
        open.delete(run);
        if (open.size === 0) {
          allDone();
          drained = new Promise<void>((r) => allDone = r);
        }
      }
    },
  };
}

/** URLs to open in a browser for this listener (novnc_proxy prints these too). */
export function viewerUrls(listener: Deno.Listener, tls: TlsConfig): string[] {
  const a = listener.addr;
  if (a.transport !== "tcp") return [];
  const hosts = a.hostname === "::" || a.hostname === "0.0.0.0"
    ? [Deno.hostname(), "127.0.0.1"]
    : [a.hostname];
  // With a certificate the viewer page is offered over https (and only that with --ssl-only).
  const schemes = !servesTls(tls) ? ["http"] : tls.sslOnly ? ["https"] : ["https", "http"];
  return schemes.flatMap((scheme) =>
    [...new Set(hosts)].map((h) =>
      `${scheme}://${
        h.includes(":") ? `[${h}]` : h
      }:${a.port}/vnc.html?autoconnect=1&path=websockify`
    )
  );
}

/**
 * How long fleet state entries live without renewal: 30 s, or
 * `VNCWS_STATE_TTL` seconds (tests shorten it to see a dead replica drop out).
 */
function stateTtlMs(): number | undefined {
  const s = Number(Deno.env.get("VNCWS_STATE_TTL"));
  return s > 0 ? s * 1000 : undefined;
}

/** A node:net socket rather than a Deno connection (told apart without loading node:net). */
function isNodeSocket(conn: Deno.Conn | Socket): conn is Socket {
  return typeof (conn as Socket).destroy === "function" && !("readable" in conn &&
    conn.readable instanceof ReadableStream);
}
