/**
 * The one place a refusal is answered: every refused connection — a bad
 * request head, an access check, a token lookup, a limit, a failed target
 * connect, `--max-connections` — is written (an HTTP response, or a plain
 * close for clients that do not speak HTTP), logged and counted here. A
 * route probe's answers (src/proxy/probe.ts) are built here too: a refusal
 * in JSON, and the JSON of an admitted route.
 * @module
 */
import type { Refusal } from "../auth/refusal.ts";
import { log } from "../base/log.ts";
import type { RequestHead } from "../http/head.ts";
import { type HttpResponse, textResponse, writeResponse } from "../http/response.ts";
import type { ByteStream } from "../net/stream.ts";
import { DEFAULT_TOKEN_PATH_PREFIX } from "../config/config.ts";
import type { SessionObserver } from "./context.ts";

/** Where a refusal happened: what the client can be told. */
export interface RefusalSite {
  /**
   * The client speaks HTTP (it sent a request head, or may still): answer
   * with a response. False for raw VNC viewers and before TLS: just close.
   */
  http: boolean;
  /** The request head, when one was read (HEAD gets no body; the path is logged). */
  head?: RequestHead;
  /** The target, for a refused target connect. */
  target?: string;
  /** `--token-path-prefix`: the token after it is cut from logged paths. */
  tokenPathPrefix?: string;
  /** Log at debug level (refusals that are part of normal use, such as a Basic challenge). */
  quiet?: boolean;
  /**
   * A route probe (`X-Vncws-Probe: 1`, src/proxy/probe.ts) was refused: the
   * answer is the JSON form, with the refusal's status and headers.
   */
  probe?: boolean;
}

/** Refusals that mean the server or its configuration, not the client, is the problem. */
const SERVER_SIDE = new Set<Refusal["kind"]>(["tls_unavailable", "tls_required", "proxy_header"]);

/**
 * Log titles that name who was refused, kept from before refusals were
 * values (operators grep for them); every other refusal logs `refused`.
 */
function title(refusal: Refusal, site: RefusalSite): string {
  if (refusal.kind === "tls_unavailable") return "TLS client refused";
  if (refusal.kind === "tls_required") return "plain connection refused";
  if (refusal.kind === "connect_failed" && !site.http) return "raw client refused";
  return "refused";
}

/**
 * Answers `refusal` on `stream` (the caller closes it), logs one `refused`
 * line and counts it in `observer`.
 */
export async function refuse(
  stream: ByteStream,
  refusal: Refusal,
  site: RefusalSite,
  observer?: Pick<SessionObserver, "refused">,
): Promise<void> {
  observer?.refused(refusal, site.http);
  const { head } = site;
  const level = site.quiet
    ? "debug"
    : refusal.status >= 500 || SERVER_SIDE.has(refusal.kind)
    ? "warn"
    : "info";
  log(
    level,
    title(refusal, site),
    {
      client: stream.peer,
      kind: refusal.kind,
      status: refusal.status,
      why: refusal.detail ?? refusal.reason,
      path: head ? logPath(head.path, site.tokenPathPrefix) : undefined,
      target: site.target,
      probe: site.probe || undefined,
      ...refusal.log,
    },
  );
  if (!site.http) return;
  await writeResponse(stream, refusalHttp(refusal, site.probe), {
    headOnly: head?.method === "HEAD",
  });
}

/**
 * A refusal as the HTTP response vncws answers with: the status and reason
 * as text, or for a route probe as JSON, `{"ok":false,"status":N,"reason":"..."}`;
 * either way with the refusal's own headers (`Retry-After`, `WWW-Authenticate`).
 */
export function refusalHttp(refusal: Refusal, probe = false): HttpResponse {
  if (!probe) return textResponse(refusal.status, refusal.reason, { ...refusal.headers });
  return jsonResponse(refusal.status, {
    ok: false,
    status: refusal.status,
    reason: refusal.reason,
  }, refusal.headers);
}

/**
 * A route probe's answer when the upgrade would be admitted: 200
 * `{"ok":true}`, with `"viewOnly":true` when the session's RFB policy is
 * view-only (the viewer can say so before it connects).
 */
export function probeAdmitted(viewOnly: boolean): HttpResponse {
  return jsonResponse(200, viewOnly ? { ok: true, viewOnly: true } : { ok: true });
}

function jsonResponse(
  status: number,
  value: Record<string, unknown>,
  headers: Readonly<Record<string, string>> = {},
): HttpResponse {
  return {
    status,
    headers: {
      ...headers,
      "Content-Type": "application/json; charset=utf-8",
      // A probe answers for this moment: a ban, a limit or a token can change at once.
      "Cache-Control": "no-store",
    },
    body: JSON.stringify(value) + "\n",
  };
}

/** A path for log lines: the token in `/websockify/<token>` is a secret, so it is cut. */
export function logPath(path: string, prefix = DEFAULT_TOKEN_PATH_PREFIX): string {
  return path.startsWith(prefix) && path.length > prefix.length ? `${prefix}…` : path;
}

/**
 * A refusal as a web `Response`, for servers that answer with one
 * (`Deno.serve`, see src/web/deno_serve.ts): the same status, headers and
 * body as {@linkcode refuse} writes. Logging and counting stay the caller's.
 */
export function refusalResponse(refusal: Refusal, headOnly = false, probe = false): Response {
  return webResponse(refusalHttp(refusal, probe), headOnly);
}

/** An {@linkcode HttpResponse} with a text body as a web `Response`. */
export function webResponse(res: HttpResponse, headOnly = false): Response {
  return new Response(headOnly ? null : res.body as string, {
    status: res.status,
    headers: res.headers,
  });
}
