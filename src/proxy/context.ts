/**
 * What the proxy needs from the program around it, as a few narrow
 * interfaces: {@linkcode Access} (who may open a session and where it goes),
 * {@linkcode Connector} (reach a target), {@linkcode SessionObserver}
 * (bookkeeping), an optional {@linkcode Guard} (bans),
 * {@linkcode WebHandler}, {@linkcode HealthHandler} and {@linkcode TlsUpgrade},
 * and the two stop signals. `src/app/` builds one {@linkcode ProxyContext};
 * every connection of the server shares it.
 *
 * Words used throughout src/proxy/:
 * - a **connection** is an accepted byte stream, numbered from 1 by the
 *   server; most become sessions, some are refused or close early;
 * - a **session** is a connection that was admitted and relays to a target
 *   (a WebSocket session after the 101, or a raw session for a native VNC
 *   viewer), from {@linkcode SessionObserver.openSession} to
 *   {@linkcode SessionHooks.end};
 * - the **client** is described by one type, `ClientInfo` (src/auth/client.ts).
 * @module
 */
import type { ClientInfo } from "../auth/client.ts";
import type { Refusal } from "../auth/refusal.ts";
import type { Config } from "../config/config.ts";
import type { RequestHead } from "../http/head.ts";
import type { HttpResponse } from "../http/response.ts";
import type { Target } from "../net/address.ts";
import type { ByteStream } from "../net/stream.ts";
import type { Route } from "../route/router.ts";
import type { RelayResult, WsRelayOptions } from "../ws/relay.ts";
import type { SessionLife } from "./session_life.ts";

/** Who may open a session and where it goes: the router, as a session sees it. */
export interface Access {
  /**
   * Decides a WebSocket upgrade in one call (rate, address lists, Origin,
   * auth plugin, token lookup, concurrency limits — that order matters, so
   * authorising and routing are one step): a route or a refusal.
   */
  route(head: RequestHead, client: ClientInfo): Promise<Route | Refusal>;
  /**
   * True when a client that sends nothing may be relayed raw (a fixed
   * target is known and no token, Origin list or auth plugin is configured).
   */
  readonly rawAllowed: boolean;
  /** Admits a raw client (address lists, rate, per-IP limit): a route or a refusal. */
  routeRaw(client: ClientInfo): Route | Refusal | Promise<Route | Refusal>;
  /**
   * The address failures and bans are counted against: the peer's IP, or
   * with `head` from a `--trusted-proxy` peer the client it names.
   * Undefined when that is not known (a trusted proxy's connection before
   * its head is read, or one naming no client): a proxy is never banned for
   * the clients behind it.
   */
  clientAddress(client: ClientInfo, head?: RequestHead): string | undefined;
}

/** Brute-force defence: bans and the failures that lead to them (src/auth/bans.ts). */
export interface Guard {
  /** A 429 refusal when `address` is banned now, else `null`. */
  check(address: string): Refusal | null;
  /** Counts a refusal of `address` (only failed attempts count). */
  failed(address: string, refusal: Refusal): void;
}

/** Reaches targets (TLS to the target included). */
export interface Connector {
  /** Connects `target`; rejects with a message naming it when that fails. */
  connect(target: Target): Promise<ByteStream>;
}

/** Answers a plain HTTP request (static files, the viewer): a response or a refusal. */
export type WebHandler = (head: RequestHead, client: ClientInfo) => Promise<HttpResponse | Refusal>;

/**
 * Answers a load balancer's health check on the proxy's port (`GET` or
 * `HEAD` of `/healthz` or `/readyz`): a response, or undefined for every
 * other request. It is asked as soon as the head is read, before the
 * checks that need it (bans of a client a trusted proxy names, address
 * lists, `--web-auth`): health checks carry no credentials and count
 * against nothing.
 */
export type HealthHandler = (head: RequestHead) => HttpResponse | undefined;

/** Server-side TLS for a stream whose first bytes look like a ClientHello. */
export type TlsUpgrade = (
  stream: ByteStream,
  options?: { signal?: AbortSignal },
) => Promise<ByteStream>;

/** A session about to relay, for bookkeeping (status table, recorder, metrics). */
export interface SessionStart {
  /** The connection's number (`--record FILE.<n>`, the status table's id). */
  id: number;
  /** Who the session is for. */
  client: ClientInfo;
  /** Where it relays to. */
  target: Target;
  /** A WebSocket session or a raw one (native VNC viewer). */
  kind: "ws" | "raw";
  /** The token's short hash (never the token), when a token routed it. */
  token?: string;
}

/** What {@linkcode SessionObserver.openSession} returns for one session. */
export interface SessionHooks {
  /** Relay hooks for this session: `--record`, live byte counts, `--traffic`. */
  options?: Pick<WsRelayOptions, "record" | "traffic">;
  /** Called once when the session ended. */
  end(result: RelayResult): void;
  /**
   * Aborted to end this one session (an administrator's request, with a
   * `CloseRequest` reason from src/ws/relay_core.ts); absent = only shutdown ends it.
   */
  signal?: AbortSignal;
}

/** Bookkeeping around sessions: the session book (src/metrics/session_book.ts). */
export interface SessionObserver {
  /** A session starts relaying. */
  openSession(start: SessionStart): SessionHooks;
  /**
   * A connection was refused (counted once, whatever refused it); `answered`
   * is false when it was closed without an HTTP answer (a TLS or raw client).
   */
  refused(refusal: Refusal, answered: boolean): void;
  /** A target was connected after `seconds`. */
  connected(seconds: number): void;
  /** The RFB policy filter dropped a message of `kind` (src/rfb/filter.ts). */
  rfbDropped?(kind: string): void;
}

/** What every connection of a proxy server shares. */
export interface ProxyContext {
  /** The running configuration (limits, timeouts, TLS, PROXY protocol). */
  config: Config;
  /** Routing and access. */
  access: Access;
  /** Reaches targets. */
  connector: Connector;
  /** Bookkeeping. */
  sessions: SessionObserver;
  /** Plain HTTP requests; absent = 405 (no `--web`). */
  web?: WebHandler;
  /** `/healthz` and `/readyz` on this port, ahead of `web`; absent = not answered. */
  health?: HealthHandler;
  /** Bans (`--ban-after`); absent = off. */
  guard?: Guard;
  /** Server-side TLS; absent = TLS clients are refused (no `--cert`). */
  tls?: TlsUpgrade;
  /**
   * Ends sessions whose time ran out or whose token was revoked or expired
   * (`--max-session`, `--token-recheck`, a JWT's `exp`); absent = none is.
   */
  lifetimes?: SessionLife;
  /** Aborted at shutdown: sessions close with 1001. */
  signal: AbortSignal;
  /**
   * Aborted when vncws stops accepting: connections that are not sessions
   * yet (waiting for their first bytes or request head) are closed then,
   * instead of holding the shutdown for up to `--head-timeout`.
   */
  stopping?: AbortSignal;
}
