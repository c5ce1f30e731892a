/**
 * Operations set-up: the `--metrics` listener (Prometheus metrics,
 * `/healthz`, `/readyz`, the status page of live sessions), guarded by the
 * proxy's `--allow-ip`/`--deny-ip` lists, since the status page names clients.
 * @module
 */
import type { Refusal } from "../auth/refusal.ts";
import { logInfo } from "../base/log.ts";
import type { Config } from "../config/config.ts";
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

/**
 * Starts the ops listener when `--metrics` is set; resolves its close
 * function, or undefined without `--metrics`.
 */
export async function startOps(
  config: Config,
  sources: OpsSources,
): Promise<(() => Promise<void>) | undefined> {
  const { metrics, table } = sources.book;
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
    guard: (_request, remote) => {
      const refused = sources.checkAddress(normalizeIp(remote.hostname));
      if (!refused) return undefined;
      // The same body the proxy port answers with (http/response.ts).
      const { status, body } = textResponse(refused.status, refused.reason);
      return new Response(String(body), { status });
    },
  });
  logInfo(`metrics on http://${formatHostPort(ops.addr.hostname, ops.addr.port)}/metrics`);
  return () => ops.close();
}
