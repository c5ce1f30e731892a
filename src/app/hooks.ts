/**
 * What a program that embeds vncws (the library, `mod.ts`) may replace: the
 * token lookup (`route`), an extra access check (`authorize`), session
 * start and end notices, and a log destination. Each hook is turned here
 * into what the router, the session book and the log take, so the proxy
 * itself knows nothing of them. A hook that throws is answered 500
 * "internal error" and logged once with its message; other sessions go on.
 * @module
 */
import type { AuthClient } from "../auth/authorize.ts";
import { peerIp } from "../auth/client.ts";
import { type Refusal, refusal } from "../auth/refusal.ts";
import { addLogListener, type Level, logWarn } from "../base/log.ts";
import type { RequestHead } from "../http/head.ts";
import { formatTarget, type Target } from "../net/address.ts";
import type { SessionBookOptions } from "../metrics/session_book.ts";
import type { SessionStart } from "../proxy/context.ts";
import type { RouterOptions } from "../route/router.ts";

/** What a `route` or `authorize` hook is told about a WebSocket upgrade request. */
export interface HookRequest {
  /** The request path (`/websockify/<token>`), without the query. */
  readonly path: string;
  /** The query parameters. */
  readonly query: URLSearchParams;
  /** The request headers, names in lower case. */
  readonly headers: ReadonlyMap<string, string>;
  /** The client address: behind a `--trusted-proxy` (or a PROXY header) the client it names. */
  readonly clientAddress: string;
  /** The verified TLS client certificate's common name (`--verify-client`). */
  readonly clientCertCN?: string;
  /** The token where the configured location finds one (path, `?token=`, cookie). */
  readonly token?: string;
}

/** A session that started relaying, for `onSessionStart`. */
export interface SessionStartInfo {
  /** The connection's number. */
  readonly id: number;
  /** A WebSocket session or a raw one (a native VNC viewer). */
  readonly kind: "ws" | "raw";
  /** The peer (`ip:port`). */
  readonly client: string;
  /** The client address after trusted proxies. */
  readonly clientAddress?: string;
  /** The verified client certificate's common name. */
  readonly clientCertCN?: string;
  /** Where it relays, as text (`host:port`, `unix:/path`). */
  readonly target: string;
  /** The token's short hash (never the token), when a token routed it. */
  readonly tokenHash?: string;
}

/** A session that ended, for `onSessionEnd`: the fields of the `session end` log line. */
export interface SessionRecord extends SessionStartInfo {
  /** Bytes from the client to the target. */
  readonly bytesUp: number;
  /** Bytes from the target to the client. */
  readonly bytesDown: number;
  /** How long it relayed, in milliseconds. */
  readonly durationMs: number;
  /** The WebSocket close code (1000, 1001 at shutdown...), when one was sent or received. */
  readonly closeCode?: number;
  /** The close reason, in words. */
  readonly closeReason?: string;
  /** How it ended: `client_closed`, `target_closed`, `timeout`, `shutdown`, `ended`, `error`. */
  readonly outcome: string;
}

/** What may be answered from a `route` hook: a target, a refusal, or `null` (unknown, 404). */
export type RouteAnswer = Target | Refusal | null;

/** The hooks a program that embeds vncws may give; every one is optional. */
export interface ProxyHooks {
  /**
   * Where an upgrade request goes, instead of the token plugin. Runs after
   * the handshake rate, IP lists, Origin check, auth plugin and
   * `authorize`; the target policy and `--max-per-*` limits still apply to
   * its answer.
   */
  route?: (request: HookRequest) => RouteAnswer | Promise<RouteAnswer>;
  /** An extra access check where the auth plugin runs: a refusal, or `null` to admit. */
  authorize?: (request: HookRequest) => Refusal | null | Promise<Refusal | null>;
  /** A session started relaying. */
  onSessionStart?: (info: SessionStartInfo) => void;
  /** A session ended. */
  onSessionEnd?: (record: SessionRecord) => void;
  /**
   * Every log line the process writes (the log is the process's: lines of
   * other vncws servers in it come here too), with its short field names.
   */
  log?: (level: Level, msg: string, fields: Record<string, unknown>) => void;
}

/** A refusal from a program's hook: answered with `status` and `reason`. */
export function hookRefusal(
  status: number,
  reason: string,
  headers?: Record<string, string>,
): Refusal {
  if (!Number.isInteger(status) || status < 400 || status > 599) {
    throw new RangeError(`a refusal's status must be 400..599, not ${status}`);
  }
  return refusal("hook", status, reason, headers);
}

/** A hook that threw: 500 to the client, its message in the one `refused` log line only. */
function failed(name: string, e: unknown): Refusal {
  return {
    ...refusal("hook", 500, "internal error"),
    detail: `the ${name} hook threw: ${e instanceof Error ? e.message : String(e)}`,
  };
}

function hookRequest(head: RequestHead, who: AuthClient, token?: string): HookRequest {
  return {
    path: head.path,
    query: head.query,
    headers: head.headers,
    clientAddress: who.address,
    clientCertCN: who.clientCertCN,
    token,
  };
}

/** The router's `authorize` and `lookup` for these hooks. */
export function routerHooks(hooks: ProxyHooks): Pick<RouterOptions, "authorize" | "lookup"> {
  const { route, authorize } = hooks;
  return {
    authorize: authorize && (async (head, who) => {
      try {
        return await authorize(hookRequest(head, who));
      } catch (e) {
        return failed("authorize", e);
      }
    }),
    lookup: route && (async (head, who, token) => {
      try {
        return await route(hookRequest(head, who, token));
      } catch (e) {
        return failed("route", e);
      }
    }),
  };
}

function startInfo(start: SessionStart): SessionStartInfo {
  return {
    id: start.id,
    kind: start.kind,
    client: start.client.peer,
    clientAddress: start.client.address ?? peerIp(start.client.peer),
    clientCertCN: start.client.clientCertCN,
    target: formatTarget(start.target),
    tokenHash: start.token,
  };
}

/** Runs a notice hook; its failure is logged, never passed on to the session. */
function notify<T>(name: string, fn: ((v: T) => void) | undefined, value: () => T): void {
  if (!fn) return;
  try {
    fn(value());
  } catch (e) {
    logWarn(`the ${name} hook threw`, { error: e instanceof Error ? e.message : String(e) });
  }
}

/** The session book's `onStart` and `onEnd` for these hooks. */
export function sessionHooks(hooks: ProxyHooks): Pick<SessionBookOptions, "onStart" | "onEnd"> {
  return {
    onStart: (start) => notify("onSessionStart", hooks.onSessionStart, () => startInfo(start)),
    onEnd: (start, result, ms) =>
      notify("onSessionEnd", hooks.onSessionEnd, () => ({
        ...startInfo(start),
        bytesUp: result.toTarget,
        bytesDown: result.toClient,
        durationMs: ms,
        closeCode: result.code,
        closeReason: result.reason,
        outcome: result.outcome,
      })),
  };
}

/** Adds the `log` hook as a log destination; returns its removal (nothing without one). */
export function attachLogHook(hooks: ProxyHooks): (() => void) | undefined {
  if (!hooks.log) return undefined;
  const remove = addLogListener(hooks.log);
  return () => void remove();
}
