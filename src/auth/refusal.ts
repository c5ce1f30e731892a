/**
 * Refusals as values: every check that can turn a client away (access lists,
 * Origin, auth plugins, limits, token lookups, and the proxy's own checks of
 * the request head) says so with a {@linkcode Refusal}. Its `kind` says what
 * happened (for metrics and readiness), `status` and `reason` what to
 * answer. Nothing here writes to a connection: the proxy turns a refusal
 * into an HTTP response (or, for a raw VNC client, a close) in one place.
 * @module
 */

/**
 * What a refusal means. The proxy's own kinds come first, then access
 * (auth/), then routing (route/), then the target.
 */
export type RefusalKind =
  /** Not HTTP, a malformed head or a malformed WebSocket upgrade (400, 405, 426, 505...). */
  | "bad_request"
  /** The request head exceeded `--max-head-size` or the header count (431). */
  | "head_too_large"
  /** The request head was not complete within `--head-timeout` (408). */
  | "head_timeout"
  /** vncws is stopping and the connection is not a session yet (503). */
  | "stopping"
  /** `--max-connections` reached (503). */
  | "busy"
  /** A plain HTTP request while no `--web` root is served (405). */
  | "no_web"
  /**
   * A `--accept-proxy-protocol` peer sent no valid PROXY header in time
   * (closed). A header from any other peer is a `bad_request`.
   */
  | "proxy_header"
  /** A TLS ClientHello while no certificate is configured (closed). */
  | "tls_unavailable"
  /** A plain connection while `--ssl-only` is set (closed). */
  | "tls_required"
  /** The TLS handshake failed: no common version, the client left... (closed). */
  | "tls_failed"
  /** `--verify-client`: a client certificate not signed by `--cafile` (closed; a missing one is `tls_failed`). */
  | "client_cert"
  /** `--deny-ip`/`--allow-ip` (403). */
  | "ip_denied"
  /** `--allow-origin` or the ExpectOrigin plugin (403). */
  | "origin"
  /** An `--auth-plugin` refused the credentials or certificate (400, 401, 403). */
  | "auth"
  /** BasicHTTPAuth: no credentials were sent; the 401 challenge every browser meets first. */
  | "auth_required"
  /** `--handshake-rate` exceeded for the client address (429). */
  | "rate"
  /** The client address is banned after `--ban-after` failures (429). */
  | "banned"
  /** `--max-per-ip` or `--max-per-token` reached (429). */
  | "limit"
  /** Token routing is on and the request carries no (well-formed) token (400, 403). */
  | "token_missing"
  /** The token backend knows no target for the token (404). */
  | "unknown_token"
  /** The token backend could not answer (503). */
  | "backend_down"
  /** No target is configured (yet: a wrapped server still starting) (404). */
  | "no_target"
  /**
   * The token's target is refused by `--deny-target`/`--allow-target` or is
   * a link-local or cloud metadata address (403).
   */
  | "target_denied"
  /** The target could not be connected (502). */
  | "connect_failed"
  /**
   * A program that embeds vncws refused it from one of its hooks (any
   * status), or a hook failed (500).
   */
  | "hook";

/** A client turned away: what happened, the status to answer and why, in words. */
export interface Refusal {
  /** What happened; see {@linkcode RefusalKind}. */
  readonly kind: RefusalKind;
  /** The HTTP status to answer (also the metrics label). */
  readonly status: number;
  /** Why, for the client (the response body) and the log line. */
  readonly reason: string;
  /** Extra response headers (`WWW-Authenticate`, `Retry-After`, `Allow`). */
  readonly headers?: Readonly<Record<string, string>>;
  /** For the log line only, instead of `reason`: what the client need not learn (a limit). */
  readonly detail?: string;
  /** More fields for the log line only (the token hash, the refused target and address). */
  readonly log?: Readonly<Record<string, string | undefined>>;
}

/** Builds a {@linkcode Refusal}. */
export function refusal(
  kind: RefusalKind,
  status: number,
  reason: string,
  headers?: Record<string, string>,
): Refusal {
  return headers ? { kind, status, reason, headers } : { kind, status, reason };
}

/** Type guard: `result` is a refusal rather than what was asked for (a route, a slot). */
export function isRefusal<T extends object>(result: T | Refusal): result is Refusal {
  return "kind" in result && "reason" in result && "status" in result;
}
