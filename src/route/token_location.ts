/**
 * Where a WebSocket upgrade request carries its token.
 * @module
 */
import { HttpError, type RequestHead } from "../http/head.ts";
import { DEFAULT_TOKEN_PATH_PREFIX } from "../config/config.ts";

/** Options for {@linkcode extractToken}. */
export interface TokenLocationOptions {
  /** `--host-token`: the Host header's host part is the token (websockify). */
  hostToken: boolean;
  /** Path prefix whose next segment is the token; default `/websockify/`. */
  pathPrefix?: string;
}

/**
 * Finds the token in a request head. Sources, first match wins:
 *
 * 1. With `hostToken` (`--host-token`): the host part of the `Host` header,
 *    port dropped, IPv6 brackets removed (`[::1]:6080` → `::1`, where
 *    websockify yields `[`). It comes first because a deployment that routes
 *    by host name must not let a query string pick another desktop; the
 *    later sources are used only when the Host header is missing or empty.
 * 2. The `token` query parameter (`/websockify?token=abc`, websockify's
 *    place), form-decoded, trailing newlines removed as websockify does.
 * 3. The path segment after the prefix (`/websockify/abc`, or the configured
 *    prefix), percent-decoded. noVNC's `path=` setting can carry it without
 *    escaping a `?`.
 * 4. The `token` cookie (`Cookie: token=abc`), percent-decoded when it decodes
 *    cleanly, surrounding double quotes removed.
 *
 * An empty value counts as absent. Returns `undefined` when no source has a
 * token. Throws {@linkcode HttpError} 400 for a path segment with malformed
 * percent-encoding (the session answers it like any bad request).
 */
export function extractToken(
  head: RequestHead,
  options: TokenLocationOptions,
): string | undefined {
  if (options.hostToken) {
    const host = hostPart(head.headers.get("host") ?? "");
    if (host !== "") return host;
  }
  const query = head.query.get("token")?.replace(/\n+$/, "");
  if (query) return query;
  const fromPath = pathToken(head.path, options.pathPrefix ?? DEFAULT_TOKEN_PATH_PREFIX);
  if (fromPath) return fromPath;
  const cookie = cookieToken(head.headers.get("cookie"));
  if (cookie) return cookie;
  return undefined;
}

/** The host part of a Host header value: `[::1]:6080` → `::1`, `a.b:80` → `a.b`. */
export function hostPart(value: string): string {
  const v = value.trim();
  if (v.startsWith("[")) {
    const end = v.indexOf("]");
    return end < 0 ? "" : v.slice(1, end);
  }
  const colon = v.indexOf(":");
  // More than one colon without brackets: a bare IPv6 literal, keep it whole.
  if (colon >= 0 && v.indexOf(":", colon + 1) >= 0) return v;
  return colon < 0 ? v : v.slice(0, colon);
}

function normalizePrefix(prefix: string): string {
  let p = prefix.startsWith("/") ? prefix : "/" + prefix;
  if (!p.endsWith("/")) p += "/";
  return p;
}

function pathToken(path: string, prefix: string): string | undefined {
  const p = normalizePrefix(prefix);
  if (!path.startsWith(p)) return undefined;
  const rest = path.slice(p.length);
  const slash = rest.indexOf("/");
  const segment = slash < 0 ? rest : rest.slice(0, slash);
  if (segment === "") return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, "malformed percent-encoding in the token path segment");
  }
}

function cookieToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  // Repeated Cookie headers arrive joined with ", "; commas are not valid in cookie values.
  for (const pair of header.split(/[;,]/)) {
    const eq = pair.indexOf("=");
    if (eq < 0 || pair.slice(0, eq).trim() !== "token") continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1);
    }
    try {
      value = decodeURIComponent(value);
    } catch { /* not percent-encoded: use it as sent */ }
    if (value !== "") return value;
  }
  return undefined;
}
