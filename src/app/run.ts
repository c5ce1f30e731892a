/**
 * Wiring only: a validated Config becomes a running proxy. Each concern has
 * its own module — routing and access (`routing.ts`), the listener
 * (`listeners.ts`), stopping and readiness (`lifecycle.ts`), the metrics
 * listener (`ops.ts`) — and the proxy itself is src/proxy/. main.ts parses
 * argv and calls {@linkcode runProxy}.
 * @module
 */
import {
  type Config,
  hostLimitsPath,
  type TlsConfig,
  WORKER_STOP_SIGNAL,
} from "../config/config.ts";
import { formatTarget, type Target } from "../net/address.ts";
import { connectTarget } from "../net/connect.ts";
import { logError, logInfo, logWarn, reopenLogFile } from "../base/log.ts";
import { healthResponse } from "../http/health.ts";
import { createSessionBook } from "../metrics/session_book.ts";
import { notifyReady } from "../service/systemd.ts";
import type { WrapHandle } from "../wrap/supervisor.ts";
import { reportToParent } from "../service/daemon.ts";
import { fdLimitWarning, openFileLimit } from "../service/fd_limit.ts";
import { serve } from "../proxy/server.ts";
import type { ProxyContext } from "../proxy/context.ts";
import type { TlsServer } from "../net/tls_server.ts";
import { servesTls } from "../net/tls_options.ts";
import type { TlsConnector } from "../net/tls_client.ts";
import { Lifecycle } from "./lifecycle.ts";
import { openProxyListener } from "./listeners.ts";
import { startOps } from "./ops.ts";
import { createRouting } from "./routing.ts";
import { createBans } from "./guard.ts";
import { startLogging } from "./logging.ts";

/** Options for {@linkcode runProxy}. */
export interface RunOptions {
  /** Re-reads the configuration (the `--config` file) on SIGHUP. */
  reload?: () => Promise<Config>;
}

/** Runs the proxy until it should exit; resolves the process exit code. */
export async function runProxy(config: Config, options: RunOptions = {}): Promise<number> {
  const life = new Lifecycle();
  // Features a run may not use (syslog, the demo, TLS, wrap mode, the pid
  // file) are loaded when asked for: every module costs start-up time.
  const closeLog = await startLogging(config);
  if (closeLog) life.defer(closeLog);
  let exitCode = 0;

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
  // Wrap mode fills this in once the wrapped server is started (its port can change on respawn).
  let wrap: WrapHandle | undefined;
  const currentTarget = (): Target | undefined => wrap?.target ?? target;
  // --state-redis: the fleet's sessions and limits in Redis (loaded only then).
  const fleet = config.stateRedis
    ? (await import("./fleet.ts")).startFleet({
      source: config.stateRedis,
      replica: `${Deno.hostname()}:${Deno.pid}`,
      ttlMs: stateTtlMs(),
    })
    : undefined;
  if (fleet) life.defer(() => fleet.close());
  // --workers: the host's limits, kept by the parent (its slots give way to --state-redis's).
  const host = config.worker
    ? await (await import("../auth/limits_host.ts")).connectHostLimits(
      hostLimitsPath(config.worker),
      config.worker.id,
    )
    : undefined;
  if (host) life.defer(() => host.close());
  // /readyz, here and on --metrics: a fleet state outage is a warning, not "not ready".
  const readiness = () => {
    const r = life.ready();
    const warning = r.ok ? fleet?.warning() : undefined;
    return warning ? { ...r, warning } : r;
  };
  const book = createSessionBook(config, {
    onEnd: (start) => life.sessionEnded(start.kind, config.runOnce),
    fleet: fleet?.registry,
  });
  const routing = await createRouting(config, {
    target: currentTarget,
    slotStore: fleet?.slots ?? host?.slots,
    rateStore: host?.rate,
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

  const ctx: ProxyContext = {
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
    health: (head) => healthResponse(head, readiness),
    tls: tlsServer?.upgrade,
    signal: life.shutdownSignal,
    stopping: life.pendingSignal,
  };

  const { listener, description, cleanup } = await openProxyListener(
    config,
    tlsServer !== undefined,
  );
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
    wrap = started;
    life.wrapStarting = true;
    life.defer(() => started.stop()); // runs last: sessions end first
    started.done.then((code) => {
      exitCode = code;
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
      exitCode = 1;
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
    ready: readiness,
    fleetSessions: fleet && ((local) => fleet.sessions(local)),
    wrapRestarts: () => wrap?.restarts ?? 0,
    checkAddress: (address) => routing.checkAddress(address),
    tlsCertificates: () => tlsServer?.certificates() ?? [],
  });
  if (closeOps) life.defer(closeOps);
  reportToParent({ ok: true });
  void notifyReady();

  life.watchSignals({
    drainDelay: config.drainDelay,
    drainTimeout: config.drainTimeout,
    openSessions: () => book.active,
    stopSignal: config.worker ? WORKER_STOP_SIGNAL : undefined,
  }, () => {
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
        .then((next) => {
          // The ban list keeps its state across reloads, so its settings stay too.
          if (JSON.stringify(next.bans) !== JSON.stringify(config.bans)) {
            logWarn("--ban-* settings changed in --config take effect at the next restart");
          }
          return routing.reload(next);
        })
        .then(() => logInfo("routing and access settings reloaded from --config"))
        .catch((e) =>
          logWarn("reload of --config failed; the old settings stay", {
            error: e instanceof Error ? e.message : String(e),
          })
        );
    }
  });
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

  await server.finished;
  await life.close();
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
