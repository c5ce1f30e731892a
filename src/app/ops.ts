/**
 * Operations set-up: the `--metrics` listener (Prometheus metrics,
 * `/healthz`, `/readyz`, the status page of live sessions), guarded by the
 * proxy's `--allow-ip`/`--deny-ip` lists, since the status page names clients.
 * A `--workers` relay process serves the same pages on a private unix
 * socket instead, for its parent to sum (`workers.ts`).
 * @module
 */
import type { Refusal } from "../auth/refusal.ts";
import { logInfo } from "../base/log.ts";
import { type Config, workerOpsPath, type WorkerRole } from "../config/config.ts";
import { Registry } from "../metrics/metrics.ts";
import type { SessionBook } from "../metrics/session_book.ts";
import type { SessionInfo } from "../metrics/sessions.ts";
import { formatHostPort } from "../net/address.ts";
import { normalizeIp } from "../net/ip.ts";
import type { ServedCert } from "../net/tls_certs.ts";
import { textResponse } from "../http/response.ts";
import type { ReadyState } from "./lifecycle.ts";

/** What the ops listener reads. */
export interface OpsSources {
  /** The session book: metrics and the live table. */
  book: SessionBook;
  /** `/readyz`. */
  ready: () => ReadyState;
  /** The wrapped command's restarts so far (`--wrap`). */
  wrapRestarts: () => number;
  /** The proxy's address lists. */
  checkAddress: (address: string) => Refusal | null;
  /** The certificates served now (none without TLS). */
  tlsCertificates: () => readonly ServedCert[];
  /** `--state-redis`: the fleet's sessions, given this replica's (absent: this replica's only). */
  fleetSessions?: (local: SessionInfo[]) => Promise<SessionInfo[]>;
}

/** The ops listener's guard: the proxy's address lists, refused with the proxy port's body. */
export function opsGuard(
  checkAddress: (address: string) => Refusal | null,
): (request: Request, remote: Deno.NetAddr) => Response | undefined {
  return (_request, remote) => {
    const refused = checkAddress(normalizeIp(remote.hostname));
    if (!refused) return undefined;
    // The same body the proxy port answers with (http/response.ts).
    const { status, body } = textResponse(refused.status, refused.reason);
    return new Response(String(body), { status });
  };
}

/**
 * A `--workers` relay process's ops pages, on a unix socket in its parent's
 * private directory: the parent's `--metrics` listener asks each worker
 * here. The socket is there with or without `--metrics` (the parent takes
 * its appearance as "this worker listens"); without it the worker keeps no
 * metrics (they cost every relayed chunk a count) and lists no sessions.
 */
async function startWorkerSocket(
  role: WorkerRole,
  sources: OpsSources,
): Promise<() => Promise<void>> {
  const { metrics, table } = sources.book;
  const { startOpsSocket } = await import("../metrics/ops_server.ts");
  const socket = await startOpsSocket(workerOpsPath(role), {
    metrics: metrics?.registry ?? new Registry(),
    ready: sources.ready,
    sessions: () => table?.list().map((s) => ({ ...s, worker: role.id })) ?? [],
  });
  return () => socket.close();
}

/**
 * Starts the ops listener when `--metrics` is set; resolves its close
 * function, or undefined without `--metrics`.
 */
export async function startOps(
  config: Config,
  sources: OpsSources,
): Promise<(() => Promise<void>) | undefined> {
  const { metrics, table } = sources.book;
  if (config.worker) return await startWorkerSocket(config.worker, sources);
  if (!config.metrics || !metrics || !table) return undefined;
  let restartsSeen = 0;
  metrics.registry.onCollect(() => {
    const r = sources.wrapRestarts();
    metrics.wrapRestarts.inc(r - restartsSeen);
    restartsSeen = r;
    // Read at each scrape: a renewal on disk changes the dates, names may come and go.
    metrics.tlsCertNotAfter.clear();
    for (const c of sources.tlsCertificates()) {
      metrics.tlsCertNotAfter.labels(c.label, c.files.cert).set(c.notAfter.getTime() / 1000);
    }
  });
  // Loaded only with --metrics (start-up time).
  const { startOpsServer } = await import("../metrics/ops_server.ts");
  const ops = await startOpsServer({
    hostname: config.metrics.hostname,
    port: config.metrics.port,
    metrics: metrics.registry,
    ready: sources.ready,
    sessions: () => sources.fleetSessions?.(table.list()) ?? table.list(),
    guard: opsGuard(sources.checkAddress),
  });
  logInfo(`metrics on http://${formatHostPort(ops.addr.hostname, ops.addr.port)}/metrics`);
  return () => ops.close();
}
