/**
 * Origin allow-lists: websockify's `ExpectOrigin` plugin and vncws's plain
 * `--allow-origin LIST` flag (same check).
 *
 * Default (empty list): no Origin check, as in websockify, so non-browser
 * clients (which send no Origin) and any web page work. The risk: a page on
 * any site the user visits can open a WebSocket to vncws from the user's
 * browser (cross-site WebSocket hijacking) — browsers do not apply CORS to
 * WebSockets. That matters when vncws trusts something the browser holds
 * (Basic credentials, cookies carrying tokens, a position inside a private
 * network). Set `--allow-origin https://your.site` when vncws is reachable
 * from browsers that also visit untrusted sites.
 * @module
 */
import type { RequestHead } from "../http/head.ts";
import { type Refusal, refusal } from "./refusal.ts";

/** Lower-cases and drops a trailing `/`, so `https://Example.com/` matches `https://example.com`. */
function normalizeOrigin(origin: string): string {
  const o = origin.trim().toLowerCase();
  return o.endsWith("/") ? o.slice(0, -1) : o;
}

/**
 * Builds an Origin check from origins (each entry may hold several,
 * whitespace- or comma-separated). Missing or unlisted `Origin` → 403.
 */
export function createOriginCheck(
  origins: readonly string[],
): (head: RequestHead) => Refusal | null {
  const allowed = new Set(
    origins.flatMap((o) => o.split(/[\s,]+/)).filter((o) => o !== "").map(normalizeOrigin),
  );
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
