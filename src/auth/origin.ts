/**
 * Origin checks for WebSocket handshakes.
 *
 * Browsers do not apply CORS to WebSockets: any page a user visits can open
 * a WebSocket to vncws from the user's browser (cross-site WebSocket
 * hijacking), carrying the browser's cookies and Basic credentials. So by
 * default vncws accepts a browser only from its own origin
 * ({@linkcode createSameOriginCheck}, the rule OpenStack nova's console
 * proxy adopted after LP#1409142); requests without an `Origin` (native
 * clients, scripts) are unaffected.
 *
 * `--allow-origin LIST` (and websockify's `ExpectOrigin` plugin) replaces
 * that rule with a list ({@linkcode createOriginCheck}); `--allow-origin '*'`
 * accepts every origin, as websockify does.
 * @module
 */
import type { RequestHead } from "../http/head.ts";
import type { RequestedHost } from "./client_ip.ts";
import { type Refusal, refusal } from "./refusal.ts";

/** Lower-cases and drops a trailing `/`, so `https://Example.com/` matches `https://example.com`. */
function normalizeOrigin(origin: string): string {
  const o = origin.trim().toLowerCase();
  return o.endsWith("/") ? o.slice(0, -1) : o;
}

/** The entries of `--allow-origin` values (each may hold several, whitespace- or comma-separated). */
export function originEntries(origins: readonly string[]): string[] {
  return origins.flatMap((o) => o.split(/[\s,]+/)).filter((o) => o !== "");
}

/**
 * Builds an Origin check from a list of origins. Missing or unlisted
 * `Origin` → 403.
 */
export function createOriginCheck(
  origins: readonly string[],
): (head: RequestHead) => Refusal | null {
  const allowed = new Set(originEntries(origins).map(normalizeOrigin));
  return (head) => {
    const origin = head.headers.get("origin");
    if (origin === undefined || origin.trim() === "") {
      return refusal("origin", 403, "Origin header required");
    }
    if (!allowed.has(normalizeOrigin(origin))) {
      return refusal("origin", 403, "Origin not allowed");
    }
    return null;
  };
}

const DEFAULT_PORTS: Record<string, string> = { "http:": "80", "https:": "443" };

/** Parses `host[:port]` (`[v6]:port` too) into a URL's hostname and explicit port. */
function parseHost(host: string): { hostname: string; port: string } | undefined {
  try {
    const u = new URL(`http://${host}`);
    if (u.username || u.password || u.pathname !== "/" || u.search || u.hash) return undefined;
    // URL drops an explicit :80 for http:, so read the port from the text.
    const m = /:(\d+)$/.exec(host);
    return { hostname: u.hostname, port: m ? String(Number(m[1])) : "" };
  } catch {
    return undefined;
  }
}

/**
 * The default rule: a request whose `Origin` names another host than the
 * one the client asked for (`Host`, or a trusted proxy's forwarded host) is
 * refused with 403. Host names must be equal; ports are compared when the
 * requested host carries one (or a trusted proxy names the scheme). Without
 * either only the host name is compared, as nova does: reverse proxies
 * often pass `Host` without the port they listen on. No `Origin` → allowed.
 */
export function createSameOriginCheck(): (
  head: RequestHead,
  requested: RequestedHost,
) => Refusal | null {
  const refuse = (origin: string, why: string) =>
    refusal(
      "origin",
      403,
      `cross-origin request refused: Origin ${origin} ${why}; ` +
        "allow it with --allow-origin",
    );
  return (head, requested) => {
    const origin = head.headers.get("origin")?.trim();
    if (origin === undefined || origin === "") return null;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return refuse(JSON.stringify(origin.slice(0, 100)), "is not a web origin");
    }
    const shown = url.origin === "null" ? JSON.stringify(origin.slice(0, 100)) : url.origin;
    const scheme = DEFAULT_PORTS[url.protocol];
    if (scheme === undefined) return refuse(shown, "is not an http or https page");
    const host = requested.host === undefined ? undefined : parseHost(requested.host);
    if (!host) return refuse(shown, "cannot be compared: the request has no valid Host");
    if (url.hostname !== host.hostname) {
      return refuse(shown, `is not this server (${requested.host})`);
    }
    const originPort = url.port || scheme;
    const wanted = host.port ||
      (requested.proto ? DEFAULT_PORTS[`${requested.proto}:`] : undefined);
    if (wanted !== undefined && originPort !== wanted) {
      return refuse(shown, `is another port than this server (${requested.host})`);
    }
    return null;
  };
}
