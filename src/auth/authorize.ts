/**
 * Access checks run before the target is connected: IP deny/allow lists,
 * the `--allow-origin` list, then the `--auth-plugin` (websockify's names:
 * `BasicHTTPAuth`, `ExpectOrigin`, `ClientCertCNAuth`, bare or as
 * `websockify.auth_plugins.NAME`). The first refusal is answered.
 * @module
 */
import type { RequestHead } from "../http/head.ts";
import { createBasicAuth } from "./basic.ts";
import type { ClientInfo } from "./client.ts";
import { CidrList } from "./cidr.ts";
import type { RequestedHost } from "./client_ip.ts";
import { createOriginCheck, createSameOriginCheck, originEntries } from "./origin.ts";
import { type Refusal, refusal } from "./refusal.ts";

/** Options for {@linkcode createAuthorizer}. */
export interface AuthorizerOptions {
  /** `--auth-plugin`: BasicHTTPAuth, ExpectOrigin or ClientCertCNAuth. */
  authPlugin?: string;
  /** `--auth-source`: the plugin's argument. */
  authSource?: string;
  /**
   * `--allow-origin`: allowed `Origin` values (`https://host[:port]`). Empty
   * (the default) = same origin only; `*` = any origin (websockify's
   * default); see `origin.ts`.
   */
  allowOrigin: string[];
  /** `--allow-ip`: if not empty, only client addresses in these CIDR blocks. */
  allowIp?: string[];
  /** `--deny-ip`: client addresses in these CIDR blocks are refused (wins over allow). */
  denyIp?: string[];
}

/**
 * Who is asking: a {@linkcode ClientInfo} whose `address` is known (the
 * client IP after trusted proxies), filled in from the connection, never
 * from headers.
 */
export type AuthClient = Pick<ClientInfo, "clientCertCN"> & {
  address: string;
  /** The host the client asked for, for the same-origin rule (absent = none known). */
  requested?: RequestedHost;
};

/** The access check a session runs. */
export interface Authorizer {
  /**
   * Every check (address lists, Origin, plugin). Resolves `null` when allowed,
   * else the refusal (400/401/403).
   */
  check(head: RequestHead, client: AuthClient): Promise<Refusal | null>;
  /**
   * Only the address lists, for connections without an HTTP head (raw VNC
   * viewers): `null` when allowed, else a 403 `ip_denied` refusal.
   */
  checkAddress(address: string): Refusal | null;
  /**
   * The address lists and the auth plugin, without the `--allow-origin` list:
   * for plain HTTP requests (static files) with `--web-auth` — browsers send
   * no Origin header when navigating.
   */
  checkWeb(head: RequestHead, client: AuthClient): Promise<Refusal | null>;
  /**
   * True when an Origin list or an auth plugin is configured: a connection
   * without an HTTP request (raw VNC) cannot pass those and must be refused.
   */
  readonly requiresHttp: boolean;
}

type Check = (
  head: RequestHead,
  client: AuthClient,
) => Refusal | null | Promise<Refusal | null>;

/** The built-in auth plugin names. */
export const AUTH_PLUGIN_NAMES: readonly string[] = [
  "BasicHTTPAuth",
  "ExpectOrigin",
  "ClientCertCNAuth",
];

const WEBSOCKIFY_PREFIX = "websockify.auth_plugins.";

function pluginCheck(plugin: string, source: string | undefined): Check {
  const name = plugin.startsWith(WEBSOCKIFY_PREFIX)
    ? plugin.slice(WEBSOCKIFY_PREFIX.length)
    : plugin;
  if (!AUTH_PLUGIN_NAMES.includes(name)) {
    throw new Error(`unknown auth plugin "${plugin}"; use one of ${AUTH_PLUGIN_NAMES.join(", ")}`);
  }
  if (source === undefined || source.trim() === "") {
    throw new Error(`auth plugin ${name} needs --auth-source`);
  }
  if (name === "BasicHTTPAuth") return createBasicAuth(source);
  if (name === "ExpectOrigin") return createOriginCheck([source]);
  const names = new Set(source.split(/\s+/).filter((n) => n !== ""));
  // The CN comes only from the TLS layer: SSL_* request headers (any case) are never read.
  return (_head, client) => {
    if (client.clientCertCN === undefined) {
      return refusal("auth", 403, "a verified TLS client certificate is required");
    }
    if (!names.has(client.clientCertCN)) {
      return refusal("auth", 403, "client certificate CN not allowed");
    }
    return null;
  };
}

/**
 * Builds the access check. Throws an Error saying what to fix for an unknown
 * plugin, a missing source or a bad CIDR block, so the CLI fails at start.
 * Order: deny-ip, allow-ip (403 "address not allowed"), allow-origin or
 * the same-origin rule (403), then the plugin.
 */
export function createAuthorizer(options: AuthorizerOptions): Promise<Authorizer> {
  try {
    return Promise.resolve(buildAuthorizer(options));
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * `--allow-ip`/`--deny-ip` alone (the `--workers` parent's ops listener
 * needs no more): a 403 refusal for an address outside them, else null.
 */
export function createAddressCheck(
  allowIp: readonly string[] = [],
  denyIp: readonly string[] = [],
): (address: string) => Refusal | null {
  const deny = new CidrList(denyIp);
  const allow = new CidrList(allowIp);
  return (address) => {
    if (!deny.empty && deny.contains(address)) {
      return refusal("ip_denied", 403, "client address not allowed");
    }
    if (!allow.empty && !allow.contains(address)) {
      return refusal("ip_denied", 403, "client address not allowed");
    }
    return null;
  };
}

function buildAuthorizer(options: AuthorizerOptions): Authorizer {
  const checkAddress = createAddressCheck(options.allowIp, options.denyIp);
  const origins = originEntries(options.allowOrigin);
  const anyOrigin = origins.includes("*");
  if (anyOrigin && origins.length > 1) {
    throw new Error(
      `--allow-origin '*' accepts every origin: give it alone, not with ${
        origins.filter((o) => o !== "*").join(", ")
      }`,
    );
  }
  const originList = origins.length > 0 && !anyOrigin ? createOriginCheck(origins) : undefined;
  let plugin: Check | undefined;
  if (options.authPlugin !== undefined && options.authPlugin !== "") {
    plugin = pluginCheck(options.authPlugin, options.authSource);
  } else if (options.authSource !== undefined) {
    throw new Error("--auth-source given without --auth-plugin");
  }
  // With no list and no ExpectOrigin plugin, browsers must come from our own origin.
  const expectOrigin = /(^|\.)ExpectOrigin$/.test(options.authPlugin ?? "");
  const sameOrigin = originList || anyOrigin || expectOrigin ? undefined : createSameOriginCheck();
  const origin = (head: RequestHead, client: AuthClient) =>
    originList?.(head) ?? sameOrigin?.(head, client.requested ?? {}) ?? null;
  return {
    requiresHttp: originList !== undefined || plugin !== undefined,
    checkAddress,
    async check(head: RequestHead, client: AuthClient): Promise<Refusal | null> {
      return checkAddress(client.address) ?? origin(head, client) ??
        (await plugin?.(head, client)) ?? null;
    },
    async checkWeb(head: RequestHead, client: AuthClient): Promise<Refusal | null> {
      return checkAddress(client.address) ?? (await plugin?.(head, client)) ?? null;
    },
  };
}
