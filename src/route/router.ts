/**
 * Everything a session decides before it connects the target, in one call:
 * client address (trusted proxies), handshake rate, access checks, token →
 * target, concurrency limits. The answer is a {@linkcode Route} or a typed
 * {@linkcode Refusal} (its kind in brackets below); the proxy answers
 * refusals and otherwise connects `target`.
 *
 * Order, cheapest and least revealing first:
 * 1. client address: `X-Forwarded-For`/`Forwarded` only from `--trusted-proxy` peers;
 * 2. handshake rate per client address → 429 (`rate`);
 * 3. `--deny-ip`/`--allow-ip` → 403 (`ip_denied`), `--allow-origin` → 403
 *    (`origin`), auth plugin → 400/401/403 (`auth`) (before the token lookup,
 *    so unauthenticated clients cannot probe tokens; websockify runs auth
 *    after the lookup);
 * 4. token: missing or malformed → 403/400 (`token_missing`),
 *    unknown/invalid/expired → 404 (`unknown_token`), backend down → 503
 *    (`backend_down`); the token's target is checked against
 *    `--deny-target`/`--allow-target` and the link-local default → 403
 *    (`target_denied`), its name resolved once → 502 (`connect_failed`) when
 *    it cannot be; without a token plugin the fixed target is used
 *    unchecked, and none → 404 (`no_target`);
 * 5. concurrent sessions per client address and per token → 429 (`limit`),
 *    across the fleet with `--state-redis` (src/auth/fleet_limits.ts), across
 *    the host's workers with `--workers` (src/auth/limits_host.ts; the
 *    handshake rate too).
 * @module
 */
import type { RfbPolicy } from "../rfb/policy.ts";
import { type AuthClient, type Authorizer, createAuthorizer } from "../auth/authorize.ts";
import {
  clientAddress,
  type ForwardedHeader,
  requestedHost,
  trustList,
} from "../auth/client_ip.ts";
import { type ClientInfo, peerIp } from "../auth/client.ts";
import {
  createFleetLimiter,
  createSharedRate,
  type HandshakeRateStore,
  type SlotStore,
} from "../auth/fleet_limits.ts";
import { createLimiter, type Limiter, type LimitSlot } from "../auth/limits.ts";
import { isRefusal, type Refusal, refusal } from "../auth/refusal.ts";
import type { JwtSecretEncoding } from "../config/config.ts";
import { HttpError, type RequestHead } from "../http/head.ts";
import type { Target } from "../net/address.ts";
import { normalizeIp } from "../net/ip.ts";
import { logWarn } from "../base/log.ts";
import {
  createTokenResolver,
  type TokenAnswer,
  TokenBackendError,
  tokenHash,
  type TokenResolver,
} from "./token.ts";
import { extractToken } from "./token_location.ts";
import { createTargetPolicy, type HostResolver } from "./target_policy.ts";
import { type RouteSettings, routeSettings, settingsExpired } from "./target_settings.ts";

/** Options for {@linkcode createRouter}; the names follow the CLI flags. */
export interface RouterOptions {
  /**
   * The fixed target (positional `host:port`, wrap, demo) when there is no
   * token plugin; a function when it is known only later (wrap mode).
   */
  target?: Target | (() => Target | undefined);
  /** `--token-plugin`, `--token-source` (and `--target-config`, mapped to TokenFile by the CLI). */
  tokenPlugin?: string;
  /** `--token-source`: the token plugin's argument. */
  tokenSource?: string;
  /** `--host-token`. */
  hostToken?: boolean;
  /** `--token-path-prefix` (default `/websockify/`). */
  tokenPathPrefix?: string;
  /** Seconds for token API and Redis requests (default 5). */
  tokenTimeout?: number;
  /** Seconds an HTTP token API answer is cached (default 5). */
  tokenCacheTtl?: number;
  /** Seconds of clock skew allowed for JWT `nbf`/`exp` (default 30). */
  jwtClockSkew?: number;
  /** `--jwt-secret-encoding`: base64url (default, as websockify) or raw. */
  jwtSecretEncoding?: JwtSecretEncoding;
  /** `--jwt-audience`: JWTs must carry this `aud`. */
  jwtAudience?: string;
  /** `--jwt-issuer`: JWTs must carry this `iss`. */
  jwtIssuer?: string;
  /**
   * The RFB policy of every session (Config.rfbPolicy); a token's settings
   * add to it, the stricter winning (`target_settings.ts` `routeSettings`).
   */
  targetPolicy?: RfbPolicy;
  /** `--auth-plugin`, `--auth-source`. */
  authPlugin?: string;
  /** `--auth-source`: the auth plugin's argument. */
  authSource?: string;
  /** `--allow-origin` (empty = no Origin check). */
  allowOrigin?: string[];
  /** `--allow-ip`, `--deny-ip`, `--trusted-proxy` (CIDR blocks). */
  allowIp?: string[];
  /** `--deny-ip`: refused client addresses (wins over the allow list). */
  denyIp?: string[];
  /** `--trusted-proxy`: peers whose forwarding headers are believed. */
  trustedProxies?: string[];
  /** `--forwarded-header`: the one header those peers write (default X-Forwarded-For). */
  forwardedHeader?: ForwardedHeader;
  /** `--max-per-ip`, `--max-per-token`, `--handshake-rate` (0/absent = no limit). */
  maxPerIp?: number;
  /** `--max-per-token`: concurrent sessions per token. */
  maxPerToken?: number;
  /** `--handshake-rate`: handshakes per second per client address. */
  handshakeRatePerIp?: number;
  /** `--allow-target`: token targets must match one of these rules (src/route/target_policy.ts). */
  allowTarget?: string[];
  /** `--deny-target`: token targets refused (wins over the allow list). */
  denyTarget?: string[];
  /** Resolves token targets' host names (tests inject one; default: node:dns lookup). */
  resolveHost?: HostResolver;
  /** Milliseconds a token target's name may take to resolve (`--connect-timeout`). */
  resolveTimeoutMs?: number;
  /**
   * `--state-redis`: the fleet's shared slots, or under `--workers` the
   * host's (src/auth/limits_host.ts); the limits then count across processes.
   */
  slotStore?: SlotStore;
  /** Under `--workers`: the host's handshake buckets; `--handshake-rate` then counts host-wide. */
  rateStore?: HandshakeRateStore;
  /**
   * A program's own check (the library's `authorize` hook, src/app/hooks.ts),
   * run right after the auth plugin: a refusal, or `null` to go on.
   */
  authorize?: (head: RequestHead, who: AuthClient) => Promise<Refusal | null>;
  /**
   * A program's own target lookup (the library's `route` hook): replaces the
   * token plugin's step; `token` is the request's token where the configured
   * location finds one. `null` = unknown (404). The target policy, limits and
   * every check before it still apply.
   */
  lookup?: (head: RequestHead, who: AuthClient, token?: string) => Promise<Target | Refusal | null>;
  /**
   * How a live session's token is looked up again (`Route.recheck`); default
   * this router's {@linkcode Router.recheck}. A reloading program passes its
   * current router's, so sessions admitted before a reload are rechecked
   * through the backend in use now, not the one closed by the reload.
   */
  recheckWith?: (token: string) => Promise<boolean>;
}

/** Where to connect, and what to do when the session ends. */
export interface Route {
  /** Where the session connects. */
  target: Target;
  /** Short token hash for log lines (never the token). */
  label?: string;
  /** The client address after trusted proxies ({@linkcode ClientInfo.address}). */
  address: string;
  /** Call exactly once when the session ends or the target connect fails (idempotent). */
  release(): void;
  /**
   * When the token stops being valid (ms since the epoch: the earlier of a
   * JWT's `exp` and the token's `expires` setting): the session ends then.
   */
  expiresAt?: number;
  /**
   * Looks the session's token up again through the same backend
   * (`--token-recheck`): false when it no longer resolves; rejects when the
   * backend cannot answer. Absent without a token plugin.
   */
  recheck?: () => Promise<boolean>;
  /**
   * The session's RFB policy (credentials vncws holds, view-only,
   * clipboard): the fixed one from the options and the token's own
   * settings. Absent = the plain relay.
   */
  rfb?: RfbPolicy;
  /** Seconds this session may last (a token's `max_duration`); `--max-session` applies too. */
  maxDuration?: number;
}

/** What {@linkcode createRouter} returns. */
export interface Router {
  /** Decides an upgrade request: a {@linkcode Route} or why not. */
  route(head: RequestHead, client: ClientInfo): Promise<Route | Refusal>;
  /**
   * For plain HTTP requests (static files): the address lists, and the auth
   * plugin when `webAuth` is true. `null` = serve the file.
   */
  checkWeb(head: RequestHead, client: ClientInfo, webAuth: boolean): Promise<Refusal | null>;
  /**
   * For a raw VNC client (no HTTP head): the address lists, rate and per-IP
   * limit. A {@linkcode Route} or a refusal (the session just closes; raw
   * clients cannot read HTTP). Only call it when
   * {@linkcode Router.rawAllowed} is true.
   */
  routeRaw(client: ClientInfo): Promise<Route | Refusal>;
  /** False when tokens, an auth plugin or an Origin list are configured. */
  readonly rawAllowed: boolean;
  /** Only the `--allow-ip`/`--deny-ip` lists for an address (other listeners, e.g. metrics). */
  checkAddress(address: string): Refusal | null;
  /**
   * Looks `token` up again through the token plugin: false when it no
   * longer resolves; rejects when the backend cannot answer; true without a
   * token plugin (nothing to judge it by).
   */
  recheck(token: string): Promise<boolean>;
  /** Closes token backends (Redis connection, user module). */
  close(): Promise<void>;
  /**
   * The address failed attempts count against (bans): see the proxy's
   * `Access.clientAddress`. Undefined for a trusted proxy without a head
   * or naming no client, and for a unix-socket peer.
   */
  clientAddress(client: ClientInfo, head?: RequestHead): string | undefined;
}

/**
 * Builds the router once at start. Throws (rejects) with a message saying
 * what to fix for a bad plugin name, source or CIDR block.
 */
export async function createRouter(options: RouterOptions): Promise<Router> {
  const authorizer: Authorizer = await createAuthorizer({
    authPlugin: options.authPlugin,
    authSource: options.authSource,
    allowOrigin: options.allowOrigin ?? [],
    allowIp: options.allowIp,
    denyIp: options.denyIp,
  });
  const trusted = options.trustedProxies ?? [];
  const header = options.forwardedHeader ?? "x-forwarded-for";
  // Parse the trusted-proxy list now, so a bad entry stops the start.
  clientAddress("127.0.0.1", emptyHead, trusted);
  const resolver: TokenResolver | undefined = options.tokenPlugin
    ? await createTokenResolver(options.tokenPlugin, {
      source: options.tokenSource,
      timeout: options.tokenTimeout,
      cacheTtl: options.tokenCacheTtl,
      clockSkew: options.jwtClockSkew,
      secretEncoding: options.jwtSecretEncoding,
      audience: options.jwtAudience,
      issuer: options.jwtIssuer,
    })
    : undefined;
  const targets = createTargetPolicy({
    allow: options.allowTarget,
    deny: options.denyTarget,
    resolve: options.resolveHost,
    timeoutMs: options.resolveTimeoutMs,
  });
  const limiter: Limiter = createLimiter({
    maxPerIp: options.maxPerIp,
    maxPerToken: options.maxPerToken,
    handshakeRatePerIp: options.handshakeRatePerIp,
  });
  // With --state-redis the concurrency limits count the whole fleet's sessions.
  const fleet = options.slotStore && createFleetLimiter(limiter, options.slotStore, {
    maxPerIp: options.maxPerIp ?? 0,
    maxPerToken: options.maxPerToken ?? 0,
    timeoutMs: FLEET_TIMEOUT_MS,
  });
  // Under --workers the handshake rate counts the whole host's handshakes.
  const shared = options.rateStore && createSharedRate(limiter, options.rateStore, {
    rate: options.handshakeRatePerIp ?? 0,
    timeoutMs: FLEET_TIMEOUT_MS,
  });
  const handshake = (ip: string): Refusal | null | Promise<Refusal | null> =>
    shared ? shared.handshake(ip) : limiter.handshake(ip);
  const hold = (ip: string, label?: string): Refusal | LimitSlot | Promise<Refusal | LimitSlot> =>
    fleet ? fleet.hold(ip, label) : limiter.hold(ip, label);

  // The options' policy alone (no token, or a token without settings); an empty one is none.
  const fixedSettings = routeSettings(options.targetPolicy);

  const fixedTarget = (): Target | undefined =>
    typeof options.target === "function" ? options.target() : options.target;

  const addressOf = (head: RequestHead, client: ClientInfo): string => {
    const ip = peerIp(client.peer);
    // A unix-socket peer is a local process: trust its forwarding headers
    // when any trusted proxy is configured (a reverse proxy on the same host).
    if (ip === "unix") {
      return trusted.length > 0 ? clientAddress("127.0.0.1", head, LOCAL, header) : ip;
    }
    return clientAddress(ip, head, trusted, header);
  };

  /** The request's token, for a `lookup` hook; a malformed one is none. */
  const findToken = (head: RequestHead): string | undefined => {
    try {
      return extractToken(head, {
        hostToken: options.hostToken ?? false,
        pathPrefix: options.tokenPathPrefix,
      });
    } catch {
      return undefined;
    }
  };

  const ownRecheck = async (token: string): Promise<boolean> =>
    !resolver || (await lookupToken(resolver, token)) !== null;
  const recheckWith = options.recheckWith ?? ownRecheck;

  const isTrusted = (ip: string) => trustList(trusted).contains(ip);

  return {
    rawAllowed: resolver === undefined && !options.lookup && !options.authorize &&
      !authorizer.requiresHttp,
    clientAddress(client, head) {
      const ip = peerIp(client.peer);
      if (!head && (ip === "unix" || isTrusted(ip))) return undefined;
      // Normalised as with a head (`::ffff:1.2.3.4` → `1.2.3.4`): one key per client either way.
      const address = head ? addressOf(head, client) : normalizeIp(ip);
      // A unix peer naming no client comes back as 127.0.0.1: the proxy, not a client.
      if (ip === "unix" && address === "127.0.0.1") return undefined;
      return address === "unix" || isTrusted(address) ? undefined : address;
    },
    checkAddress: (address) => authorizer.checkAddress(address),

    async route(head, client) {
      const address = addressOf(head, client);
      const rate = await handshake(address);
      if (rate) return rate;
      const requested = requestedHost(peerIp(client.peer), head, trusted, header);
      const who: AuthClient = { address, clientCertCN: client.clientCertCN, requested };
      const refused = (await authorizer.check(head, who)) ??
        (options.authorize ? await options.authorize(head, who) : null);
      if (refused) return refused;

      let target = fixedTarget();
      let label: string | undefined;
      let settings: RouteSettings = fixedSettings;
      let recheck: (() => Promise<boolean>) | undefined;
      if (options.lookup) {
        const token = findToken(head);
        label = token === undefined ? undefined : tokenHash(token);
        const found = await options.lookup(head, who, token);
        if (found === null) return refusal("unknown_token", 404, "unknown or expired token");
        if (isRefusal(found)) return found;
        const checked = await targets.check(found, label);
        if (isRefusal(checked)) return checked;
        target = checked;
      } else if (resolver) {
        let token: string | undefined;
        try {
          token = extractToken(head, {
            hostToken: options.hostToken ?? false,
            pathPrefix: options.tokenPathPrefix,
          });
        } catch (e) {
          if (e instanceof HttpError) return refusal("token_missing", e.status, e.message);
          throw e;
        }
        if (token === undefined) {
          return refusal(
            "token_missing",
            403,
            "a token is required (?token=, /websockify/<token> or a token cookie)",
          );
        }
        label = tokenHash(token);
        const known = token;
        recheck = () => recheckWith(known);
        try {
          const answer = await lookupToken(resolver, token);
          target = answer?.target;
          if (answer) {
            settings = routeSettings(options.targetPolicy, answer.settings, answer.expiresAt);
          }
        } catch (e) {
          logWarn("token backend failed", {
            token: label,
            reason: (e as Error)?.message ?? String(e),
          });
          const why = e instanceof TokenBackendError
            ? "token backend unavailable"
            : "token lookup failed";
          return refusal("backend_down", 503, why, { "Retry-After": "5" });
        }
        if (!target) return refusal("unknown_token", 404, "unknown or expired token");
        const checked = await targets.check(target, label);
        if (isRefusal(checked)) return checked;
        target = checked;
      }
      if (!target) return refusal("no_target", 404, "no target is configured for this server");
      const slot = await hold(address, label);
      if (isRefusal(slot)) return slot;
      return {
        target,
        label,
        address,
        release: () => slot.release(),
        recheck,
        ...settings,
      };
    },

    async checkWeb(head, client, webAuth) {
      const address = addressOf(head, client);
      if (!webAuth) return authorizer.checkAddress(address);
      return await authorizer.checkWeb(head, { address, clientCertCN: client.clientCertCN });
    },

    async routeRaw(client) {
      const address = peerIp(client.peer);
      const refused = (await handshake(address)) ?? authorizer.checkAddress(address);
      if (refused) return refused;
      const target = fixedTarget();
      if (!target) return refusal("no_target", 404, "no target is configured for this server");
      const slot = await hold(address);
      if (isRefusal(slot)) return slot;
      return { target, address, release: () => slot.release(), ...fixedSettings };
    },

    recheck: ownRecheck,

    async close() {
      await resolver?.close?.();
    },
  };
}

/**
 * A token's target, expiry and settings, from the backend's detailed lookup
 * when it has one; null for a token whose settings' `expires` has passed,
 * whichever backend holds it (a recheck then ends its session too).
 */
async function lookupToken(resolver: TokenResolver, token: string): Promise<TokenAnswer | null> {
  if (resolver.lookupDetail) {
    const answer = await resolver.lookupDetail(token);
    return answer && !settingsExpired(answer.settings, Date.now()) ? answer : null;
  }
  const target = await resolver.lookup(token);
  return target ? { target } : null;
}

/**
 * How long an admission waits for the fleet's slot store (`--state-redis`,
 * or the `--workers` parent's) before counting this process's sessions only: a slow Redis must not hold
 * every handshake.
 */
const FLEET_TIMEOUT_MS = 2000;

/** A unix-socket peer is a local process: its forwarding headers are read as 127.0.0.1's. */
const LOCAL = ["127.0.0.1"];

const emptyHead: RequestHead = {
  method: "GET",
  target: "/",
  path: "/",
  query: new URLSearchParams(),
  version: "HTTP/1.1",
  headers: new Map(),
  headerCount: 0,
};
