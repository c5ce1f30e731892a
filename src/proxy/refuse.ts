/**
 * The one place a refusal is answered: every refused connection — a bad
 * request head, an access check, a token lookup, a limit, a failed target
 * connect, `--max-connections` — is written (an HTTP response, or a plain
 * close for clients that do not speak HTTP), logged and counted here.
 * @module
 */
import type { Refusal } from "../auth/refusal.ts";
import { log } from "../base/log.ts";
import type { RequestHead } from "../http/head.ts";
import { textResponse, writeResponse } from "../http/response.ts";
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
      ...refusal.log,
    },
  );
  if (!site.http) return;
  await writeResponse(
    stream,
    textResponse(refusal.status, refusal.reason, { ...refusal.headers }),
    { headOnly: head?.method === "HEAD" },
  );
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
export function refusalResponse(refusal: Refusal, headOnly = false): Response {
  const res = textResponse(refusal.status, refusal.reason, { ...refusal.headers });
  return new Response(headOnly ? null : res.body as string, {
    status: res.status,
    headers: res.headers,
  });
}
