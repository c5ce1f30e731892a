/**
 * Routing and access as the proxy sees them: the router built from the
 * configuration, behind the proxy's `Access` interface, swapped for a new one
 * on SIGHUP with `--config` (sessions keep theirs), with token lookups
 * reported by their refusal kind (metrics, `/readyz`) and the web root
 * behind `--web-auth`, with the viewer settings that a reload swaps too.
 * @module
 */
import type { HandshakeRateStore, SlotStore } from "../auth/fleet_limits.ts";
import { isRefusal, type Refusal } from "../auth/refusal.ts";
import type { Config } from "../config/config.ts";
import type { Target } from "../net/address.ts";
import type { Access, WebHandler } from "../proxy/context.ts";
import { createRouter, type Route, type Router, type RouterOptions } from "../route/router.ts";
import { createWebHandler } from "../web/static.ts";

/** What a token lookup came to, for `vncws_token_lookups_total{result}`. */
export type LookupResult = "found" | "not_found" | "error";

/**
 * The lookup result a route or refusal stands for, or undefined when no
 * lookup decided it (refused before the lookup, or by a limit after it).
 */
export function lookupResult(r: Route | Refusal): LookupResult | undefined {
  if (!isRefusal(r)) return "found";
  if (r.kind === "unknown_token" || r.kind === "no_target") return "not_found";
  if (r.kind === "backend_down") return "error";
  return undefined;
}

/** Options for {@linkcode createRouting}. */
export interface RoutingOptions {
  /** The fixed target, when known (wrap mode knows it only once the command listens). */
  target: () => Target | undefined;
  /** Called after each token lookup (only with `--token-plugin`). */
  onLookup?: (result: LookupResult) => void;
  /** `--state-redis`, or the `--workers` parent: the shared slots (they outlive reloads). */
  slotStore?: SlotStore;
  /** The `--workers` parent's handshake buckets. */
  rateStore?: HandshakeRateStore;
  /** A program's own access check and target lookup (src/app/hooks.ts); they outlive reloads. */
  hooks?: Pick<RouterOptions, "authorize" | "lookup">;
}

/** What {@linkcode createRouting} returns. */
export interface Routing {
  /** For the proxy's sessions. */
  access: Access;
  /** Plain HTTP requests (`--web`, behind `--web-auth`); undefined with `--web none`. */
  web?: WebHandler;
  /** Only the `--allow-ip`/`--deny-ip` lists (the metrics listener). */
  checkAddress(address: string): Refusal | null;
  /** Builds a router from `config`'s routing and access settings and swaps it in. */
  reload(config: Config): Promise<void>;
  /** Closes the current router's token backends. */
  close(): Promise<void>;
}

/** The router's settings from a Config. */
function routerOptions(
  config: Config,
  options: RoutingOptions,
  recheckWith?: (token: string) => Promise<boolean>,
): RouterOptions {
  return {
    recheckWith,
    target: options.target,
    slotStore: options.slotStore,
    rateStore: options.rateStore,
    ...options.hooks,
    tokenPlugin: config.tokenPlugin,
    tokenSource: config.tokenSource,
    hostToken: config.hostToken,
    tokenPathPrefix: config.tokenPathPrefix,
    jwtSecretEncoding: config.jwtSecretEncoding,
    jwtAudience: config.jwtAudience,
    jwtIssuer: config.jwtIssuer,
    targetPolicy: config.rfbPolicy,
    authPlugin: config.authPlugin,
    authSource: config.authSource,
    allowOrigin: config.allowOrigin,
    allowIp: config.allowIp,
    denyIp: config.denyIp,
    trustedProxies: config.trustedProxies,
    forwardedHeader: config.forwardedHeader,
    maxPerIp: config.limits.maxPerIp,
    maxPerToken: config.limits.maxPerToken,
    handshakeRatePerIp: config.limits.handshakeRate,
    allowTarget: config.allowTarget,
    denyTarget: config.denyTarget,
    resolveTimeoutMs: config.limits.connectTimeout * 1000,
  };
}

/**
 * Builds routing before listening, so a bad token source, auth source or
 * CIDR block stops the start with a message saying what to fix.
 */
export async function createRouting(config: Config, options: RoutingOptions): Promise<Routing> {
  // Live sessions' tokens are rechecked through the router in use now (it changes on reload).
  const recheckWith = (token: string) => router.recheck(token);
  let router: Router = await createRouter(routerOptions(config, options, recheckWith));
  const tokens = config.tokenPlugin !== undefined && config.tokenPlugin !== "";
  const access: Access = {
    async route(head, client) {
      const r = await router.route(head, client);
      const looked = tokens ? lookupResult(r) : undefined;
      if (looked) options.onLookup?.(looked);
      return r;
    },
    // Raw (non-HTTP) clients carry no token, Origin or credentials: only a
    // fixed target without auth may be relayed raw.
    get rawAllowed() {
      return router.rawAllowed && options.target() !== undefined;
    },
    routeRaw: (client) => router.routeRaw(client),
    clientAddress: (client, head) => router.clientAddress(client, head),
  };
  // The viewer settings follow a reload, as routing does; the web root itself does not.
  let viewerSettings = { defaults: config.viewerDefaults, mandatory: config.viewerMandatory };
  const files = config.web === null ? undefined : createWebHandler({
    root: config.web,
    dirListing: config.dirListing,
    frameOptions: config.frameOptions,
    viewerSettings: () => viewerSettings,
  });
  const web: WebHandler | undefined = files
    ? async (head, client) => (await router.checkWeb(head, client, config.webAuth)) ?? files(head)
    : undefined;
  return {
    access,
    web,
    checkAddress: (address) => router.checkAddress(address),
    async reload(next) {
      const fresh = await createRouter(routerOptions(next, options, recheckWith));
      const old = router;
      router = fresh;
      viewerSettings = { defaults: next.viewerDefaults, mandatory: next.viewerMandatory };
      void old.close();
    },
    close: () => router.close(),
  };
}
