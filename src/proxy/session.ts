/**
 * One accepted connection, from its first byte to its log line: sniff
 * (HTTP, TLS, or a silent native VNC viewer), read and check the request,
 * route and authorise, connect the target, answer 101, relay.
 * @module
 */
import type { ClientInfo } from "../auth/client.ts";
import type { Refusal } from "../auth/refusal.ts";
import type { Config } from "../config/config.ts";
import { findHeadEnd, HttpError, parseRequestHead, type RequestHead } from "../http/head.ts";
import { type HttpResponse, textResponse, writeResponse } from "../http/response.ts";
import { formatTarget, type Target } from "../net/address.ts";
import { ConnectError } from "../net/connect.ts";
import { type ByteStream, PrefixedStream } from "../net/stream.ts";
import { parseEndpoint, proxyHeader } from "../net/proxy_protocol.ts";
import { log, logDebug, logInfo, logWarn } from "../base/log.ts";
import { isUpgradeRequest, switchingProtocols, validateUpgrade } from "../ws/handshake.ts";
import { DEFAULT_TOKEN_PATH_PREFIX } from "../route/token_location.ts";
import { relayRaw, type RelayResult, relayWebSocket, type WsRelayOptions } from "../ws/relay.ts";

/** A session about to relay, for bookkeeping (status table, recorder, metrics). */
export interface SessionStart {
  id: number;
  client: ClientInfo;
  target: Target;
  kind: "ws" | "raw";
}

/** What {@linkcode SessionContext.openSession} returns. */
export interface SessionHooks {
  /** Extra relay options (record/count hooks, traffic symbols). */
  options?: Partial<WsRelayOptions>;
  /** Called once when the session ended. */
  end(result: RelayResult): void;
}

/** The counters a session updates; see src/metrics/metrics.ts. */
export interface SessionMetrics {
  refused(status: number): void;
  connected(seconds: number): void;
}

export type { ClientInfo };

/** A refusal from routing or auth, or where to connect. */
export type RouteResult =
  | {
    target: Target;
    /** Short token hash for logs. */
    label?: string;
    /** Frees the limiter slot taken for this session; called once when it ends. */
    release?: () => void;
  }
  | Refusal;

/** What a session needs from the server around it. */
export interface SessionContext {
  config: Config;
  /** Picks the target for an upgrade (fixed, token, auth). */
  route(head: RequestHead, client: ClientInfo): Promise<RouteResult>;
  /** Connects to a target (TLS to the target included). */
  connect(target: Target): Promise<ByteStream>;
  /** The target for raw (non-WebSocket) clients, when raw relaying is allowed. */
  rawTarget?: () => Target | undefined;
  /** Answers plain HTTP requests (static files, viewer); absent = 405. */
  web?: (head: RequestHead, client: ClientInfo) => Promise<HttpResponse | Refusal>;
  /**
   * Admits a raw (non-HTTP) client: a slot to release when it ends, or the
   * reason it is refused (address lists, limits).
   */
  admitRaw?: (peer: string) => { release(): void } | Refusal;
  /** Server-side TLS for a stream whose first bytes look like a ClientHello. */
  tls?: (stream: ByteStream, options?: { signal?: AbortSignal }) => Promise<ByteStream>;
  /** Aborted at shutdown: sessions close with 1001. */
  signal: AbortSignal;
  /**
   * Aborted when vncws stops accepting: connections that are not sessions
   * yet (waiting for their first bytes or request head) are closed then,
   * instead of holding the shutdown for up to `--head-timeout`.
   */
  stopping?: AbortSignal;
  /** Extra relay options (record, traffic). */
  openSession?: (session: SessionStart) => SessionHooks;
  /** This connection's number (counts every accepted connection; `--record FILE.<n>`). */
  connId?: number;
  /** Counters for refusals and target connect time (`--metrics`). */
  metrics?: SessionMetrics;
}

const TIMEOUT = Symbol("timeout");
const STOPPED = Symbol("stopped");
const EMPTY = new Uint8Array(0);

/** `p`, or TIMEOUT after `ms`, or STOPPED once `stop` is aborted (vncws is stopping). */
function raceTimeout<T>(
  p: Promise<T>,
  ms: number,
  stop?: AbortSignal,
): Promise<T | typeof TIMEOUT | typeof STOPPED> {
  if (stop?.aborted) return Promise.resolve(STOPPED);
  let timer: ReturnType<typeof setTimeout>;
  let onStop: (() => void) | undefined;
  return Promise.race([
    p,
    new Promise<typeof TIMEOUT>((r) => timer = setTimeout(() => r(TIMEOUT), ms)),
    new Promise<typeof STOPPED>((r) => {
      onStop = () => r(STOPPED);
      stop?.addEventListener("abort", onStop, { once: true });
    }),
  ]).finally(() => {
    clearTimeout(timer);
    if (onStop) stop?.removeEventListener("abort", onStop);
  });
}

/** A stream whose first read is one already under way (the sniff read). */
class PendingReadStream extends PrefixedStream {
  #pending?: Promise<number | null>;
  #buf: Uint8Array;
  #rest: Uint8Array = new Uint8Array(0);

  constructor(inner: ByteStream, pending: Promise<number | null>, buf: Uint8Array) {
    super(inner, new Uint8Array(0));
    this.#pending = pending;
    this.#buf = buf;
  }

  override async read(buf: Uint8Array): Promise<number | null> {
    if (this.#pending) {
      const p = this.#pending;
      this.#pending = undefined;
      const n = await p;
      if (n === null) return null;
      this.#rest = this.#buf.subarray(0, n);
      warnIfHttp(this.peer, this.#rest);
    }
    if (this.#rest.length > 0) {
      const take = Math.min(this.#rest.length, buf.length);
      buf.set(this.#rest.subarray(0, take));
      this.#rest = this.#rest.subarray(take);
      return take;
    }
    return super.read(buf);
  }
}

const HTTP_START = /^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH) \S+ HTTP\/1\.[01]\r?\n/;

/**
 * A client that spoke HTTP only after --raw-wait was already relayed raw:
 * its request went to the VNC server. Say so, with the fix.
 */
function warnIfHttp(peer: string, first: Uint8Array): void {
  const text = new TextDecoder("latin1").decode(first.subarray(0, 64));
  if (HTTP_START.test(text)) {
    logWarn("an HTTP client was relayed raw", {
      client: peer,
      why: "its request came after --raw-wait; raise --raw-wait (or 0 to never relay raw)",
    });
  }
}

/** Handles one accepted connection; never throws. */
export async function handleConnection(stream: ByteStream, ctx: SessionContext): Promise<void> {
  try {
    await sniff(stream, ctx);
  } catch (e) {
    logWarn("connection failed", {
      client: stream.peer,
      error: e instanceof Error ? e.message : String(e),
    });
  } finally {
    stream.close();
  }
}

async function sniff(stream: ByteStream, ctx: SessionContext): Promise<void> {
  const { limits } = ctx.config;
  const rawTarget = ctx.rawTarget?.();
  // With --ssl-only a raw client would get around TLS: never relay raw then.
  const rawOK = rawTarget !== undefined && limits.rawWait > 0 && !ctx.config.tls.sslOnly;
  // Sniff and head buffers are dropped before relaying: idle sessions keep only the relay's.
  let first: Uint8Array | undefined = new Uint8Array(4096);
  const pending = stream.read(first);
  const r = await raceTimeout(
    pending,
    (rawOK ? limits.rawWait : limits.headTimeout) * 1000,
    ctx.stopping,
  );
  if (r === STOPPED) {
    pending.catch(() => {});
    logDebug("closed a connection that sent nothing: vncws is stopping", { client: stream.peer });
    return;
  }
  if (r === TIMEOUT) {
    if (rawOK) {
      await rawSession(new PendingReadStream(stream, pending, first), rawTarget, ctx);
    } else {
      pending.catch(() => {});
      logInfo("closed a silent connection", {
        client: stream.peer,
        why: `nothing received within ${limits.headTimeout}s` +
          (ctx.rawTarget ? "; raw relaying is off (token routing, auth or --raw-wait 0)" : ""),
      });
    }
    return;
  }
  if (r === null) {
    logDebug("client closed before sending anything", { client: stream.peer });
    return;
  }
  const initial = first.slice(0, r);
  first = undefined;
  if (initial[0] === 0x16 || initial[0] === 0x80) {
    if (!ctx.tls) {
      logWarn("TLS client refused", {
        client: stream.peer,
        why: "no certificate configured (--cert)",
      });
      return;
    }
    const secure = await ctx.tls(new PrefixedStream(stream, initial), { signal: ctx.stopping });
    try {
      await readHead(secure, new Uint8Array(0), ctx);
    } finally {
      secure.close();
    }
    return;
  }
  if (ctx.config.tls.sslOnly) {
    logWarn("plain connection refused", { client: stream.peer, why: "--ssl-only is set" });
    return;
  }
  await readHead(stream, initial, ctx);
}

/** A byte that may start an HTTP method token. */
function looksLikeHttp(buf: Uint8Array): boolean {
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (c === 0x20) return i > 0;
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

async function readHead(
  stream: ByteStream,
  initial: Uint8Array,
  ctx: SessionContext,
): Promise<void> {
  const { limits } = ctx.config;
  const deadline = Date.now() + limits.headTimeout * 1000;
  let buf = new Uint8Array(Math.max(4096, initial.length * 2));
  buf.set(initial);
  let len = initial.length;
  let end = findHeadEnd(buf.subarray(0, len));
  while (end < 0) {
    if (!looksLikeHttp(buf.subarray(0, Math.min(len, 32)))) {
      return refuse(
        ctx,
        stream,
        textResponse(400, "not an HTTP request"),
        "garbage instead of a request",
      );
    }
    if (len > limits.maxHeadBytes) {
      return refuse(
        ctx,
        stream,
        textResponse(431, `request head larger than ${limits.maxHeadBytes} bytes`),
        "head too large",
      );
    }
    if (len === buf.length) {
      const bigger = new Uint8Array(buf.length * 2);
      bigger.set(buf);
      buf = bigger;
    }
    const left = deadline - Date.now();
    let read: Promise<number | null> | undefined;
    const r = left > 0
      ? await raceTimeout(read = stream.read(buf.subarray(len)), left, ctx.stopping)
      : TIMEOUT;
    // A read left behind ends when the stream is closed; its outcome is not wanted.
    if (r === STOPPED || r === TIMEOUT) read?.catch(() => {});
    if (r === STOPPED) {
      return refuse(ctx, stream, textResponse(503, "vncws is stopping"), "stopping");
    }
    if (r === TIMEOUT) {
      return refuse(
        ctx,
        stream,
        textResponse(408, `request head not complete within ${limits.headTimeout}s`),
        "head timeout",
      );
    }
    if (r === null) {
      logDebug("client closed during the request head", { client: stream.peer });
      return;
    }
    const from = len;
    len += r;
    end = findHeadEnd(buf.subarray(0, len), from);
  }
  let head: RequestHead;
  try {
    head = parseRequestHead(buf.subarray(0, end), limits);
  } catch (e) {
    if (e instanceof HttpError) {
      return refuse(ctx, stream, textResponse(e.status, e.message, e.headers), e.message);
    }
    throw e;
  }
  const leftover = buf.slice(end, len);
  buf = EMPTY;
  if (isUpgradeRequest(head)) return await wsSession(stream, head, leftover, ctx);
  await plainHttp(stream, head, ctx);
}

/** A path for log lines: the token in `/websockify/<token>` is a secret, so it is cut. */
function logPath(path: string, prefix = DEFAULT_TOKEN_PATH_PREFIX): string {
  return path.startsWith(prefix) && path.length > prefix.length ? `${prefix}…` : path;
}

async function refuse(
  ctx: SessionContext,
  stream: ByteStream,
  res: HttpResponse,
  why: string,
  head?: RequestHead,
): Promise<void> {
  ctx.metrics?.refused(res.status);
  log(res.status >= 500 ? "warn" : "info", "refused", {
    client: stream.peer,
    status: res.status,
    why,
    path: head ? logPath(head.path, ctx.config.tokenPathPrefix) : undefined,
  });
  await writeResponse(stream, res, { headOnly: head?.method === "HEAD" });
}

async function plainHttp(
  stream: ByteStream,
  head: RequestHead,
  ctx: SessionContext,
): Promise<void> {
  if (!ctx.web) {
    return refuse(
      ctx,
      stream,
      textResponse(405, "this server only accepts WebSocket upgrades", { Allow: "GET" }),
      "no web root",
      head,
    );
  }
  const res = await ctx.web(head, { peer: stream.peer, clientCertCN: stream.clientCertCN });
  if ("kind" in res) {
    return refuse(ctx, stream, textResponse(res.status, res.reason, res.headers), res.reason, head);
  }
  logDebug("http", {
    client: stream.peer,
    method: head.method,
    path: logPath(head.path, ctx.config.tokenPathPrefix),
    status: res.status,
  });
  await writeResponse(stream, res, { headOnly: head.method === "HEAD" });
}

async function wsSession(
  stream: ByteStream,
  head: RequestHead,
  leftover: Uint8Array,
  ctx: SessionContext,
): Promise<void> {
  let upgrade;
  try {
    upgrade = validateUpgrade(head);
  } catch (e) {
    if (e instanceof HttpError) {
      return refuse(ctx, stream, textResponse(e.status, e.message, e.headers), e.message, head);
    }
    throw e;
  }
  const client: ClientInfo = { peer: stream.peer, clientCertCN: stream.clientCertCN };
  const routed = await ctx.route(head, client);
  if (!("target" in routed)) {
    return refuse(
      ctx,
      stream,
      textResponse(routed.status, routed.reason, routed.headers),
      routed.reason,
      head,
    );
  }
  try {
    await relaySession(stream, { head, upgrade, routed, leftover, client }, ctx);
  } finally {
    routed.release?.();
  }
}

async function relaySession(
  stream: ByteStream,
  req: {
    head: RequestHead;
    upgrade: ReturnType<typeof validateUpgrade>;
    routed: Exclude<RouteResult, Refusal>;
    leftover: Uint8Array;
    client: ClientInfo;
  },
  ctx: SessionContext,
): Promise<void> {
  const { head, upgrade, routed, leftover, client } = req;
  const started = Date.now();
  let target: ByteStream;
  try {
    target = await connectFor(stream, routed.target, ctx, client.address);
  } catch (e) {
    const msg = e instanceof ConnectError ? e.message : `cannot connect to the target: ${e}`;
    return refuse(ctx, stream, textResponse(502, msg), msg, head);
  }
  try {
    await stream.writeAll(new TextEncoder().encode(switchingProtocols(upgrade)));
  } catch {
    target.close();
    return;
  }
  const where = formatTarget(routed.target);
  // `from` is the client named by a trusted proxy; `cn` the verified certificate's CN.
  const who = {
    client: client.peer,
    from: client.address && client.address !== peerIpOf(client.peer) ? client.address : undefined,
    cn: client.clientCertCN,
  };
  logDebug("session start", {
    ...who,
    target: where,
    token: routed.label,
    protocol: upgrade.protocol,
  });
  const hooks = ctx.openSession?.({
    id: ctx.connId ?? 0,
    client,
    target: routed.target,
    kind: "ws",
  });
  const c = ctx.config;
  const result = await relayWebSocket(stream, target, {
    leftover,
    maxMessageBytes: c.limits.maxMessageBytes,
    heartbeat: c.heartbeat,
    pingTimeout: c.pingTimeout,
    idleTimeout: c.sessionIdleTimeout,
    signal: ctx.signal,
    ...hooks?.options,
  });
  hooks?.end(result);
  logInfo("session end", {
    ...who,
    target: where,
    token: routed.label,
    up: result.toTarget,
    down: result.toClient,
    ms: Date.now() - started,
    code: result.code,
    reason: result.reason,
  });
}

function peerIpOf(peer: string): string {
  return parseEndpoint(peer)?.ip ?? peer;
}

/** Connects the target for `client`, sending the PROXY header first when configured. */
async function connectFor(
  client: ByteStream,
  target: Target,
  ctx: SessionContext,
  address?: string,
): Promise<ByteStream> {
  const t0 = performance.now();
  const conn = await ctx.connect(target);
  ctx.metrics?.connected((performance.now() - t0) / 1000);
  const version = ctx.config.proxyProtocol;
  if (version) {
    const peer = parseEndpoint(client.peer);
    // Behind a trusted proxy the client address comes from its headers (no port known).
    const source = address && peer && address !== peer.ip ? { ip: address, port: 0 } : peer;
    try {
      await conn.writeAll(
        proxyHeader(version, source, client.local ? parseEndpoint(client.local) : undefined),
      );
    } catch (e) {
      conn.close();
      throw new ConnectError(`cannot send the PROXY header to ${formatTarget(target)}: ${e}`);
    }
  }
  return conn;
}

async function rawSession(stream: ByteStream, target: Target, ctx: SessionContext): Promise<void> {
  const slot = ctx.admitRaw?.(stream.peer);
  if (slot && "kind" in slot) {
    logInfo("refused", { client: stream.peer, why: slot.reason });
    return;
  }
  try {
    await rawRelaySession(stream, target, ctx);
  } finally {
    slot?.release();
  }
}

async function rawRelaySession(
  stream: ByteStream,
  target: Target,
  ctx: SessionContext,
): Promise<void> {
  const started = Date.now();
  const where = formatTarget(target);
  let conn: ByteStream;
  try {
    conn = await connectFor(stream, target, ctx);
  } catch (e) {
    logWarn("raw client refused", {
      client: stream.peer,
      target: where,
      why: e instanceof Error ? e.message : String(e),
    });
    return;
  }
  const client: ClientInfo = { peer: stream.peer };
  const hooks = ctx.openSession?.({ id: ctx.connId ?? 0, client, target, kind: "raw" });
  const result = await relayRaw(stream, conn, { signal: ctx.signal });
  hooks?.end(result);
  logInfo("raw session end", {
    client: stream.peer,
    target: where,
    up: result.toTarget,
    down: result.toClient,
    ms: Date.now() - started,
    reason: result.reason,
  });
}
