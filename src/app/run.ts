/**
 * Wiring: a validated Config becomes a running proxy — listener, session
 * context (routing, connecting, web), lifecycle (signals, timeouts,
 * run-once). main.ts parses argv and calls {@linkcode runProxy}.
 * @module
 */
import type { Config, TlsConfig } from "../config/config.ts";
import { formatHostPort, formatTarget, type Target } from "../net/address.ts";
import { connectTarget } from "../net/connect.ts";
import {
  addLogSink,
  configureLog,
  logError,
  logInfo,
  logWarn,
  reopenLogFile,
} from "../base/log.ts";
import { createSessionBook } from "../metrics/session_book.ts";
import { startOpsServer } from "../metrics/ops_server.ts";
import { createSyslogSink } from "../service/syslog.ts";
import {
  inheritedListener,
  listenFdsListener,
  notifyReady,
  notifyStopping,
} from "../service/systemd.ts";
import { startWrap, type WrapHandle } from "../wrap/supervisor.ts";
import { reportToParent } from "../service/daemon.ts";
import { writePidFile } from "../service/pid_file.ts";
import { fdLimitWarning, openFileLimit } from "../service/fd_limit.ts";
import { describeListener, openListener, serve, type Server } from "../proxy/server.ts";
import { openNodeListener } from "../net/node_listener.ts";
import type { ClientInfo, RouteResult, SessionContext } from "../proxy/session.ts";
import { createRouter, type RouterOptions } from "../route/router.ts";
import { normalizeIp } from "../net/ip.ts";
import type { RequestHead } from "../http/head.ts";
import type { HttpResponse } from "../http/response.ts";
import { textResponse } from "../http/response.ts";
import { isRefusal, type Refusal } from "../auth/refusal.ts";
import { startDemoServer } from "../demo/rfb_server.ts";
import { createWebHandler } from "../web/static.ts";
import { createTlsServer, type TlsServer } from "../net/tls_server.ts";
import { createTlsConnector, type TlsConnector } from "../net/tls_client.ts";

/** Options for {@linkcode runProxy}. */
export interface RunOptions {
  /** Re-reads the configuration (the `--config` file) on SIGHUP. */
  reload?: () => Promise<Config>;
}

/** The router's settings from a Config. */
function routerOptions(config: Config, target: () => Target | undefined): RouterOptions {
  return {
    target,
    tokenPlugin: config.tokenPlugin,
    tokenSource: config.tokenSource,
    hostToken: config.hostToken,
    tokenPathPrefix: config.tokenPathPrefix,
    authPlugin: config.authPlugin,
    authSource: config.authSource,
    allowOrigin: config.allowOrigin,
    allowIp: config.allowIp,
    denyIp: config.denyIp,
    trustedProxies: config.trustedProxies,
    maxPerIp: config.limits.maxPerIp,
    maxPerToken: config.limits.maxPerToken,
    handshakeRatePerIp: config.limits.handshakeRate,
  };
}

/** Runs the proxy until it should exit; resolves the process exit code. */
export async function runProxy(config: Config, options: RunOptions = {}): Promise<number> {
  configureLog({ verbose: config.verbose, format: config.logFormat, file: config.logFile });
  const syslog = config.syslog
    ? createSyslogSink(config.syslog, {
      legacy: config.legacySyslog,
      facility: config.daemon ? "daemon" : "user",
    })
    : undefined;
  const shutdown = new AbortController();
  const cleanups: Array<() => Promise<void> | void> = [];
  if (syslog) {
    const remove = addLogSink(syslog);
    cleanups.push(() => {
      remove();
      syslog.close();
    });
  }
  let exitCode = 0;

  let target: Target | undefined = config.target;
  if (config.demo) {
    // The demo desktop is an RFB server on loopback: the same data path as a real one.
    const demo = await startDemoServer({ hostname: "127.0.0.1", port: 0 });
    target = { kind: "tcp", hostname: "127.0.0.1", port: demo.addr.port };
    cleanups.push(() => demo.close());
  }
  // Wrap mode fills this in once the wrapped server is started (its port can change on respawn).
  let wrapTarget: (() => Target) | undefined;
  let wrapHandle: WrapHandle | undefined;
  let wrapReady = false;
  const currentTarget = (): Target | undefined => wrapTarget?.() ?? target;
  // Routing and access: built before listening so a bad token source, auth
  // source or CIDR stops the start with a message saying what to fix.
  // `let`: SIGHUP with --config swaps in a router built from the re-read file.
  let router = await createRouter(routerOptions(config, currentTarget));
  cleanups.push(() => router.close());
  // /readyz: the token backend counts as down from a failed lookup until one succeeds.
  let tokenBackendDown = false;
  const route = async (head: RequestHead, client: ClientInfo): Promise<RouteResult> => {
    const r = await router.route(head, client);
    if (config.tokenPlugin) {
      // The refusal's kind says what the lookup came to.
      const result = !isRefusal(r)
        ? "found"
        : r.kind === "unknown_token" || r.kind === "no_target"
        ? "not_found"
        : r.kind === "backend_down"
        ? "error"
        : undefined;
      if (result === "found") tokenBackendDown = false;
      if (result === "error") tokenBackendDown = true;
      if (result) book.metrics?.tokenLookups.labels(result).inc();
    }
    if (isRefusal(r)) return r;
    client.address = r.address;
    return { target: r.target, label: r.label, release: () => r.release() };
  };
  const webHandler = config.web === null ? undefined : createWebHandler({
    root: config.web,
    dirListing: config.dirListing,
    frameOptions: config.frameOptions,
  });
  const web = webHandler
    ? async (head: RequestHead, client: ClientInfo): Promise<HttpResponse | Refusal> =>
      await router.checkWeb(head, client, config.webAuth) ?? await webHandler(head)
    : undefined;

  // TLS files are read before listening, so a bad file stops the start with its name.
  const tlsServer: TlsServer | undefined = config.tls.cert
    ? await createTlsServer(config.tls, { handshakeTimeoutMs: config.limits.headTimeout * 1000 })
    : undefined;
  const tlsConnector: TlsConnector | undefined = config.targetTls.enabled
    ? await createTlsConnector(config.targetTls, {
      handshakeTimeoutMs: config.limits.connectTimeout * 1000,
    })
    : undefined;

  const book = createSessionBook(config, {
    onEnd: (start) => {
      if (config.runOnce && start.kind === "ws") stop("--run-once: the first session ended");
    },
  });
  const holder: { server?: Server } = {};
  let stopping = false;
  // Aborted when vncws shuts down (signal, wrapped command gone): connections that are not
  // sessions yet are closed at once. --timeout, --idle-timeout and --run-once only stop
  // accepting, and what was accepted is still served.
  const notSessionsYet = new AbortController();
  const stop = (why: string, options: { closePending?: boolean } = {}) => {
    if (options.closePending) notSessionsYet.abort();
    if (stopping) return;
    stopping = true;
    logInfo("stopping", { why });
    void notifyStopping();
    holder.server?.stopAccepting();
  };

  const ctx: SessionContext = {
    config,
    route,
    connect: (t) =>
      connectTarget(t, { timeoutMs: config.limits.connectTimeout * 1000, tls: tlsConnector }),
    tls: tlsServer?.upgrade,
    // Raw (non-HTTP) clients carry no token, Origin or credentials: only a
    // fixed target without auth may be relayed raw.
    rawTarget: () => (router.rawAllowed ? currentTarget() : undefined),
    web,
    admitRaw: (peer) => router.routeRaw({ peer }),
    signal: shutdown.signal,
    stopping: notSessionsYet.signal,
    openSession: (start) => book.openSession(start),
    metrics: book.sessionMetrics,
  };

  // systemd socket activation, then --inetd (a listening socket on fd 0), then our own.
  // With --ssl-only every client is TLS: a node:net listener lets TLS run on
  // the native socket, which costs far less than TLS over a Deno socket.
  const listener = (await listenFdsListener()) ??
    (config.inetd
      ? await inheritedListener(0)
      : config.unixListen !== undefined
      ? openListener({ kind: "unix", path: config.unixListen, mode: config.unixListenMode })
      : config.tls.sslOnly && tlsServer
      ? await openNodeListener(config.listen!)
      : openListener({ kind: "tcp", addr: config.listen!, preferIpv6: config.preferIpv6 }));
  const server = serve(listener, ctx, { maxConnections: config.limits.maxConnections });
  holder.server = server;
  const fdWarning = fdLimitWarning(config.limits.maxConnections, {
    perSession: config.record ? 3 : 2,
    limit: openFileLimit(),
  });
  if (fdWarning) logWarn(fdWarning);
  logInfo(`listening on ${describeListener(listener)}`, {
    target: config.demo ? "demo desktop" : target ? formatTarget(target) : undefined,
  });
  if (config.wrap) {
    // websockify's order: listen first, then start the command, whose bind of
    // the listen port the shim moves to a private loopback port.
    let wrap: WrapHandle;
    try {
      wrap = await startWrap(config.wrap, { listenPort: config.listen!.port });
    } catch (e) {
      server.stopAccepting();
      await server.finished;
      throw e;
    }
    wrapTarget = () => wrap.target;
    wrapHandle = wrap;
    cleanups.push(() => wrap.stop()); // runs last: sessions end first
    wrap.done.then((code) => {
      exitCode = code;
      stop(`the wrapped command exited with code ${code}`, { closePending: true });
      shutdown.abort();
    });
    try {
      await wrap.ready;
      wrapReady = true;
      logInfo("wrapped server ready", {
        command: config.wrap.command[0],
        target: formatTarget(wrap.target),
      });
    } catch (e) {
      logError(e instanceof Error ? e.message : String(e));
      exitCode = 1;
      stop("the wrapped server did not start", { closePending: true });
      shutdown.abort();
    }
  }
  if (config.web !== null) {
    for (const url of viewerUrls(listener, config.tls)) logInfo(`open ${url}`);
  }
  if (config.pidFile) cleanups.push(writePidFile(config.pidFile));
  if (config.metrics && book.metrics && book.table) {
    const { metrics, table } = book;
    let restartsSeen = 0;
    metrics.registry.onCollect(() => {
      const r = wrapHandle?.restarts ?? 0;
      metrics.wrapRestarts.inc(r - restartsSeen);
      restartsSeen = r;
    });
    const ops = await startOpsServer({
      hostname: config.metrics.hostname,
      port: config.metrics.port,
      metrics: metrics.registry,
      ready: () =>
        stopping
          ? { ok: false, why: "stopping" }
          : wrapHandle && !wrapReady
          ? { ok: false, why: "the wrapped server is not listening yet" }
          : tokenBackendDown
          ? { ok: false, why: "the token backend did not answer the last lookup" }
          : { ok: true },
      sessions: () => table.list(),
      // The status page names clients: the proxy's --allow-ip/--deny-ip apply here too.
      guard: (_request, remote) => {
        const refused = router.checkAddress(normalizeIp(remote.hostname));
        if (!refused) return undefined;
        const res = textResponse(refused.status, refused.reason);
        return new Response(String(res.body), { status: res.status });
      },
    });
    logInfo(`metrics on http://${formatHostPort(ops.addr.hostname, ops.addr.port)}/metrics`);
    cleanups.push(() => ops.close());
  }
  reportToParent({ ok: true });
  void notifyReady();

  const onSignal = (sig: Deno.Signal) => () => {
    if (stopping) {
      logWarn(`${sig} again: closing every session now`);
      notSessionsYet.abort();
      shutdown.abort();
      return;
    }
    stop(sig, { closePending: true });
    // Sessions get --drain-timeout to finish, then are closed with 1001.
    const t = setTimeout(() => shutdown.abort(), config.drainTimeout * 1000);
    cleanups.push(() => clearTimeout(t));
  };
  const onHangup = () => {
    // SIGHUP: reopen the log file (logrotate) and re-read certificates; sessions go on.
    logInfo("SIGHUP: reloading");
    reopenLogFile();
    tlsServer?.reload().catch((e) =>
      logWarn("TLS reload failed; the old certificate stays in use", {
        error: e instanceof Error ? e.message : String(e),
      })
    );
    if (options.reload) {
      // Routing and access (tokens, auth, IP lists, limits) follow the file;
      // sessions keep running. Other settings need a restart.
      options.reload()
        .then((next) => createRouter(routerOptions(next, currentTarget)))
        .then((next) => {
          const old = router;
          router = next;
          void old.close();
          logInfo("routing and access settings reloaded from --config");
        })
        .catch((e) =>
          logWarn("reload of --config failed; the old settings stay", {
            error: e instanceof Error ? e.message : String(e),
          })
        );
    }
  };
  const handlers: Array<[Deno.Signal, () => void]> = [
    ["SIGINT", onSignal("SIGINT")],
    ["SIGTERM", onSignal("SIGTERM")],
    ["SIGHUP", onHangup],
  ];
  for (const [s, h] of handlers) Deno.addSignalListener(s, h);
  cleanups.push(() => {
    for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
  });

  if (config.timeout > 0) {
    // websockify's --timeout: stop listening N s after start; running sessions go on.
    const t = setTimeout(() => stop(`--timeout ${config.timeout}s`), config.timeout * 1000);
    cleanups.push(() => clearTimeout(t));
  }
  if (config.idleTimeout > 0) {
    const t = setInterval(() => {
      // A connection still on its way to becoming a session counts as activity too.
      const pending = (holder.server?.active ?? 0) > 0;
      if (pending) return;
      if (book.active === 0 && Date.now() - book.lastEnd > config.idleTimeout * 1000) {
        stop(`--idle-timeout: no session for ${config.idleTimeout}s`);
      }
    }, 250);
    cleanups.push(() => clearInterval(t));
  }

  await server.finished;
  for (const c of cleanups.reverse()) await c();
  logInfo("stopped");
  return exitCode;
}

/** URLs to open in a browser for this listener (novnc_proxy prints these too). */
export function viewerUrls(listener: Deno.Listener, tls: TlsConfig): string[] {
  const a = listener.addr;
  if (a.transport !== "tcp") return [];
  const hosts = a.hostname === "::" || a.hostname === "0.0.0.0"
    ? [Deno.hostname(), "127.0.0.1"]
    : [a.hostname];
  // With a certificate the viewer page is offered over https (and only that with --ssl-only).
  const schemes = !tls.cert ? ["http"] : tls.sslOnly ? ["https"] : ["https", "http"];
  return schemes.flatMap((scheme) =>
    [...new Set(hosts)].map((h) =>
      `${scheme}://${
        h.includes(":") ? `[${h}]` : h
      }:${a.port}/vnc.html?autoconnect=1&path=websockify`
    )
  );
}
