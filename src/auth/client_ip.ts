/**
 * The real client address behind trusted reverse proxies (`--trusted-proxy
 * CIDR...`, websockify #334). Used for logs, limits and allow/deny lists.
 * @module
 */
import type { RequestHead } from "../http/head.ts";
import { normalizeIp, parseIp } from "../net/ip.ts";
import { CidrList } from "./cidr.ts";

const parsedLists = new WeakMap<readonly string[], CidrList>();

/** The parsed `--trusted-proxy` list, parsed once per array (pass the same array each time). */
export function trustList(trustedProxies: readonly string[]): CidrList {
  let list = parsedLists.get(trustedProxies);
  if (!list) {
    list = new CidrList(trustedProxies);
    parsedLists.set(trustedProxies, list);
  }
  return list;
}

/** Strips a port and brackets from one hop: `1.2.3.4:5`, `[::1]:5`, `"[::1]"`. */
function hopAddress(hop: string): string | undefined {
  let h = hop.trim();
  if (h.startsWith('"') && h.endsWith('"') && h.length >= 2) h = h.slice(1, -1);
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    if (end < 0) return undefined;
    h = h.slice(1, end);
  } else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(h)) {
    h = h.slice(0, h.lastIndexOf(":"));
  }
  return parseIp(h) ? normalizeIp(h) : undefined;
}

/** The hops (left = farthest) of `Forwarded: for=...` (RFC 7239), or `undefined` without one. */
function forwardedHops(value: string | undefined): (string | undefined)[] | undefined {
  if (value === undefined) return undefined;
  const hops: (string | undefined)[] = [];
  for (const element of value.split(",")) {
    let found: string | undefined | null = null;
    for (const pair of element.split(";")) {
      const eq = pair.indexOf("=");
      if (eq < 0 || pair.slice(0, eq).trim().toLowerCase() !== "for") continue;
      found = hopAddress(pair.slice(eq + 1));
    }
    // An element without for= says nothing about the client: an unknown hop.
    hops.push(found === null ? undefined : found);
  }
  return hops;
}

/**
 * Which header a trusted proxy writes (`--forwarded-header`): only that one
 * is read. A proxy passes the other through from the client untouched, so
 * reading both would let a client name itself.
 */
export type ForwardedHeader = "x-forwarded-for" | "forwarded";

/**
 * The address to use for a connection. When the TCP peer is in
 * `trustedProxies` (CIDR blocks, e.g. `["127.0.0.1", "10.0.0.0/8"]`), the hop
 * list of `header` (`X-Forwarded-For` by default, or RFC 7239 `Forwarded:
 * for=`) is walked from the right, skipping trusted proxies; the first
 * untrusted hop is the client (a client can prepend anything, so only hops
 * added by trusted proxies count). If that hop is not an IP address
 * (`unknown`, an obfuscated name, garbage), the nearest trusted proxy's
 * address is used instead; if every hop is trusted, the leftmost one is
 * used. An untrusted peer's headers are ignored. The result is normalised
 * (`::ffff:1.2.3.4` → `1.2.3.4`). Throws when a `trustedProxies` entry is
 * not a CIDR block; the list is parsed once per array, so pass the same
 * array each time.
 */
export function clientAddress(
  peerIp: string,
  head: RequestHead,
  trustedProxies: readonly string[],
  header: ForwardedHeader = "x-forwarded-for",
): string {
  const peer = normalizeIp(peerIp);
  if (trustedProxies.length === 0) return peer;
  const trusted = trustList(trustedProxies);
  if (!trusted.contains(peer)) return peer;
  const hops = header === "forwarded"
    ? forwardedHops(head.headers.get("forwarded"))
    : head.headers.get("x-forwarded-for")?.split(",").map(hopAddress);
  if (!hops || hops.length === 0) return peer;
  let nearest = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i];
    if (hop === undefined) return nearest;
    if (!trusted.contains(hop)) return hop;
    nearest = hop;
  }
  return nearest;
}

/** The host (and scheme, when a proxy says it) the client asked for: what its `Origin` should name. */
export interface RequestedHost {
  /** `host[:port]` as the client sent it (`Host`, or a trusted proxy's forwarded host). */
  host?: string;
  /** `http` or `https`, from a trusted proxy's `X-Forwarded-Proto` / `Forwarded: proto=`. */
  proto?: string;
}

/** The first `name=` value of a `Forwarded` header (the hop nearest the client), unquoted. */
function forwardedParam(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  for (const element of value.split(",")) {
    for (const pair of element.split(";")) {
      const eq = pair.indexOf("=");
      if (eq < 0 || pair.slice(0, eq).trim().toLowerCase() !== name) continue;
      const v = pair.slice(eq + 1).trim();
      return v.startsWith('"') && v.endsWith('"') && v.length >= 2 ? v.slice(1, -1) : v;
    }
  }
  return undefined;
}

/**
 * The host the client asked for. From a `--trusted-proxy` peer the proxy's
 * `X-Forwarded-Host`/`X-Forwarded-Proto` (or with `header` `forwarded`,
 * `Forwarded: host=`/`proto=`; their first value: the hop nearest the
 * client) win over `Host`; anyone else's forwarding headers are ignored.
 */
export function requestedHost(
  peerIp: string,
  head: RequestHead,
  trustedProxies: readonly string[],
  header: ForwardedHeader = "x-forwarded-for",
): RequestedHost {
  const host = head.headers.get("host")?.trim() || undefined;
  const peer = normalizeIp(peerIp);
  const fromProxy = trustedProxies.length > 0 &&
    (peerIp === "unix" || trustList(trustedProxies).contains(peer));
  if (!fromProxy) return { host };
  if (header === "forwarded") {
    const forwarded = head.headers.get("forwarded");
    return {
      host: forwardedParam(forwarded, "host") ?? host,
      proto: forwardedParam(forwarded, "proto")?.toLowerCase(),
    };
  }
  const first = (name: string) => head.headers.get(name)?.split(",")[0].trim() || undefined;
  return {
    host: first("x-forwarded-host") ?? host,
    proto: first("x-forwarded-proto")?.toLowerCase(),
  };
}
