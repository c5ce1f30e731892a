/**
 * The operations listener (`--metrics [addr:]port`, off by default): its own
 * port, separate from the proxy, served by `Deno.serve`.
 *
 * - `GET /metrics`: Prometheus text format
 * - `GET /healthz`: 200 "ok" while the process runs
 * - `GET /readyz`: 200 "ready" (and a warning line when degraded), or 503 with the reason
 * - `GET /`: HTML status page of live sessions (the fleet's with
 *   `--state-redis`), refreshed every 5 s
 * - `GET /sessions.json`: the same sessions as JSON
 *
 * Each source may answer later (a promise): the parent of `--workers` asks
 * its relay processes, each of which serves the same pages on a private
 * unix socket ({@linkcode startOpsSocket}).
 * @module
 */
import { PROMETHEUS_CONTENT_TYPE, type Registry } from "./metrics.ts";
import type { SessionInfo } from "./sessions.ts";
import { escapeHtml } from "../base/text.ts";
import { healthAnswer, type Readiness } from "../http/health.ts";

export { countingHooks, type SessionInfo, SessionTable } from "./sessions.ts";
export type { Readiness };

/** Options for {@linkcode startOpsServer}. */
export interface OpsServerOptions {
  /** Address to listen on. */
  hostname: string;
  /** 0 = any free port (tests). */
  port: number;
  /** The metrics to serve on /metrics (a registry, or the sum of the workers'). */
  metrics: Pick<Registry, "expose"> | { expose(): Promise<string> };
  /** Listening, wrapped server ready, token backend reachable. */
  ready: () => Readiness | Promise<Readiness>;
  /** Live sessions, for `/` and `/sessions.json` (the fleet's, from Redis, with `--state-redis`). */
  sessions: () => SessionInfo[] | Promise<SessionInfo[]>;
  /**
   * Access control: return a Response to refuse the request (e.g. 403 for an
   * address outside `--allow-ip`), or undefined to serve it.
   */
  guard?: (request: Request, remote: Deno.NetAddr) => Response | undefined;
}

/** A running ops listener. */
export interface OpsServer {
  /** Where the ops server listens. */
  addr: Deno.NetAddr;
  /** Stops listening and waits for open requests. */
  close(): Promise<void>;
}

/** Seconds between status page refreshes. */
export const STATUS_REFRESH_SECONDS = 5;

/** `1536` → `1.5 KiB`. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** `3725` s → `1h 2m 5s`. */
export function formatAge(seconds: number): string {
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}h ${m}m ${r}s` : m > 0 ? `${m}m ${r}s` : `${r}s`;
}

/** A session with its age and average throughput, as `/sessions.json` lists it. */
export interface SessionView extends SessionInfo {
  /** Seconds since the session started. */
  ageSeconds: number;
  /** Average bytes per second since the start, both directions together. */
  bytesPerSecond: number;
}

/** Adds age and throughput to each session, at `now`. */
export function viewSessions(sessions: SessionInfo[], now = Date.now()): SessionView[] {
  return sessions.map((s) => {
    const age = Math.max(0, (now - s.started) / 1000);
    const rate = age > 0 ? (s.bytesToTarget + s.bytesToClient) / age : 0;
    return { ...s, ageSeconds: age, bytesPerSecond: Math.round(rate) };
  });
}

/** The status page HTML for these sessions. */
export function statusPage(sessions: SessionView[]): string {
  // A fleet's list (--state-redis) names each session's replica.
  const fleet = sessions.some((s) => s.replica !== undefined);
  const replica = (s: SessionView) => fleet ? `<td>${escapeHtml(s.replica ?? "")}</td>` : "";
  const rows = sessions.map((s) =>
    `<tr>${replica(s)}<td>${s.worker === undefined ? "" : `${s.worker}/`}${s.id}</td><td>${
      escapeHtml(s.client)
    }</td><td>${escapeHtml(s.target)}</td>` +
    `<td>${formatAge(s.ageSeconds)}</td><td>${formatBytes(s.bytesToTarget)}</td>` +
    `<td>${formatBytes(s.bytesToClient)}</td><td>${formatBytes(s.bytesPerSecond)}/s</td></tr>`
  ).join("\n");
  const body = sessions.length === 0 ? "<p>No live sessions.</p>" : `<table>
<thead><tr>${
    fleet ? "<th>replica</th>" : ""
  }<th>#</th><th>client</th><th>target</th><th>age</th><th>to target</th><th>to client</th><th>throughput</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="${STATUS_REFRESH_SECONDS}">
<title>vncws status</title>
<style>
body { font-family: sans-serif; margin: 1.5em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }
td:nth-child(n+${fleet ? 5 : 4}) { text-align: right; font-variant-numeric: tabular-nums; }
</style>
</head>
<body>
<h1>vncws: ${sessions.length} live session${sessions.length === 1 ? "" : "s"}</h1>
${body}
<p>Throughput is the average since the session started. Refreshes every ${STATUS_REFRESH_SECONDS} s.
<a href="/metrics">metrics</a> · <a href="/sessions.json">sessions.json</a> ·
<a href="/healthz">healthz</a> · <a href="/readyz">readyz</a></p>
</body>
</html>
`;
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "cache-control": "no-store",
      ...headers,
    },
  });
}

/** What {@linkcode handleOpsRequest} reads: the options without the address. */
export type OpsSources = Omit<OpsServerOptions, "hostname" | "port" | "guard">;

/** Answers one request to the ops listener. */
export async function handleOpsRequest(request: Request, options: OpsSources): Promise<Response> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return text(405, "only GET and HEAD are served here\n", { allow: "GET, HEAD" });
  }
  const path = new URL(request.url).pathname;
  switch (path) {
    case "/metrics":
      return new Response(await options.metrics.expose(), {
        headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" },
      });
    case "/healthz":
    case "/readyz": {
      // The same answers as on the proxy's own port (http/health.ts).
      const ready = await options.ready();
      const { status, body } = healthAnswer(path, () => ready)!;
      return text(status, body);
    }
    case "/sessions.json":
      return new Response(JSON.stringify(viewSessions(await options.sessions())), {
        headers: { "content-type": "application/json", "cache-control": "no-store" },
      });
    case "/":
      return new Response(statusPage(viewSessions(await options.sessions())), {
        headers: {
          "content-type": "text/html; charset=utf-8",
          "cache-control": "no-store",
          "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
          "x-content-type-options": "nosniff",
        },
      });
    default:
      return text(
        404,
        `not found: ${path} (try /metrics, /healthz, /readyz, / or /sessions.json)\n`,
      );
  }
}

/** Starts the ops listener; resolves once it listens. */
export function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  return new Promise((resolve, reject) => {
    try {
      const server = Deno.serve({
        hostname: options.hostname,
        port: options.port,
        onListen: (addr) => resolve({ addr: addr as Deno.NetAddr, close: () => server.shutdown() }),
        onError: (e) => text(500, `internal error: ${e instanceof Error ? e.message : e}\n`),
      }, (request, info) => {
        const refused = options.guard?.(request, info.remoteAddr);
        if (refused) return refused;
        return handleOpsRequest(request, options);
      });
    } catch (e) {
      reject(e);
    }
  });
}

/**
 * Serves the same pages on a unix socket at `path`, unguarded: a
 * `--workers` relay process's private window for its parent (the socket
 * is in the parent's 0700 directory).
 */
export function startOpsSocket(
  path: string,
  options: OpsSources,
): Promise<Pick<OpsServer, "close">> {
  return new Promise((resolve, reject) => {
    try {
      const server = Deno.serve({
        path,
        onListen: () => resolve({ close: () => server.shutdown() }),
        onError: (e) => text(500, `internal error: ${e instanceof Error ? e.message : e}\n`),
      }, (request) => handleOpsRequest(request, options));
    } catch (e) {
      reject(e);
    }
  });
}
