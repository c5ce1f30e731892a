/**
 * One accepted connection, from its first byte to its log line, as one
 * linear run of steps:
 *
 *   [PROXY header] → sniff → head → authorise and route → connect → [RFB gateway] → relay
 *
 * (the PROXY header only from `--accept-proxy-protocol` peers; a raw VNC
 * viewer skips the head and takes the raw route; a route probe, a plain GET
 * with `X-Vncws-Probe: 1`, stops after the route and is answered in JSON,
 * src/proxy/probe.ts). Each step
 * returns a value for the next or a {@linkcode Refusal}; a refusal ends the
 * run and is answered, logged and counted in one place ({@linkcode refuse}).
 * @module
 */
import { type ClientInfo, peerIp } from "../auth/client.ts";
import { isRefusal, type Refusal, refusal } from "../auth/refusal.ts";
import { log, logDebug, logWarn } from "../base/log.ts";
import { HttpError, type RequestHead } from "../http/head.ts";
import { writeResponse } from "../http/response.ts";
import { formatTarget, type Target } from "../net/address.ts";
import { ConnectError } from "../net/connect.ts";
import { parseEndpoint, proxyHeader } from "../net/proxy_protocol.ts";
import type { ByteStream } from "../net/stream.ts";
import type { Route } from "../route/router.ts";
import {
  isUpgradeRequest,
  switchingProtocols,
  type Upgrade,
  validateUpgrade,
} from "../ws/handshake.ts";
import { relayRaw, relayWebSocket } from "../ws/relay.ts";
import type { ProxyContext } from "./context.ts";
import { answerProbe, isProbeRequest, probeInFirstBytes } from "./probe.ts";
import { acceptProxyHeader } from "./proxy_header.ts";
import { logPath, type RefusalSite, refuse } from "./refuse.ts";
import { rfbStep } from "./rfb_step.ts";
import { policyFilter } from "./rfb_policy.ts";
import type { RfbFilter } from "../rfb/filter.ts";
import { httpErrorRefusal, readHead, type Request, sniff } from "./sniff.ts";

const encoder = new TextEncoder();

/**
 * The session lines' field names in `--log-format json` (the text format
 * keeps the short ones). Listed in README's "Operations".
 */
export const SESSION_JSON_NAMES: Readonly<Record<string, string>> = {
  client: "client",
  from: "client_address",
  cn: "client_cn",
  target: "target",
  token: "token_hash",
  up: "bytes_up",
  dropped: "rfb_dropped",
  down: "bytes_down",
  ms: "duration_ms",
  code: "close_code",
  reason: "close_reason",
};

/** A refusal and where it happened: what {@linkcode runSteps} hands to {@linkcode refuse}. */
interface Refused {
  refusal: Refusal;
  stream: ByteStream;
  site: RefusalSite;
  /** The client address a failed attempt counts against (bans), when known. */
  address?: string;
}

/**
 * Handles connection number `id` (counted by the server) until it ends;
 * never throws. The caller's `stream` is closed at the end.
 */
export async function handleConnection(
  stream: ByteStream,
  ctx: ProxyContext,
  id: number,
): Promise<void> {
  const opened: ByteStream[] = [stream];
  try {
    const refused = await runSteps(stream, ctx, id, opened);
    if (refused) {
      if (refused.address !== undefined) ctx.guard?.failed(refused.address, refused.refusal);
      await refuse(refused.stream, refused.refusal, refused.site, ctx.sessions);
    }
  } catch (e) {
    logWarn("connection failed", {
      client: stream.peer,
      error: e instanceof Error ? e.message : String(e),
    });
  } finally {
    // Innermost first: a TLS stream's close_notify goes out through the socket under it.
    for (const s of opened.reverse()) s.close();
  }
}

/** The steps; resolves the refusal to answer, if any. Streams it opens go into `opened`. */
async function runSteps(
  accepted: ByteStream,
  ctx: ProxyContext,
  id: number,
  opened: ByteStream[],
): Promise<Refused | undefined> {
  const prefix = ctx.config.tokenPathPrefix;
  // 0. a listed load balancer's PROXY header: from here on the peer is the client it names.
  const stream = await acceptProxyHeader(accepted, ctx);
  if (stream === undefined) return undefined;
  if (isRefusal(stream)) return { refusal: stream, stream: accepted, site: { http: false } };
  // The peer's address, for bans; undefined for a trusted proxy (its head names the client).
  const peerAddress = ctx.guard && ctx.access.clientAddress({ peer: stream.peer });
  // 1. sniff: TLS, HTTP or a silent native VNC viewer.
  const sniffed = await sniff(stream, ctx);
  if (isRefusal(sniffed)) {
    return { refusal: sniffed, stream, site: { http: false }, address: peerAddress };
  }
  if (sniffed.kind === "gone") return undefined;
  // A banned address is refused before its head is read (a raw client: closed).
  const banned = peerAddress === undefined ? null : ctx.guard?.check(peerAddress);
  if (sniffed.kind === "raw") {
    const client: ClientInfo = { peer: stream.peer };
    const route = banned ?? await ctx.access.routeRaw(client);
    if (isRefusal(route)) return { refusal: route, stream, site: { http: false } };
    return await connectAndRelay(sniffed.stream, { id, client, route }, ctx);
  }
  const conn = sniffed.stream;
  if (conn !== stream) opened.push(conn);
  const early: RefusalSite = { http: true, tokenPathPrefix: prefix };
  if (banned) {
    // A probe whose head came with the first read still gets its answer as JSON.
    const probe = probeInFirstBytes(sniffed.initial, ctx.config.limits) || undefined;
    return { refusal: banned, stream: conn, site: { ...early, probe } };
  }
  // 2. head.
  const request = await readHead(conn, sniffed.initial, ctx);
  if (request === undefined) return undefined;
  if (isRefusal(request)) {
    return { refusal: request, stream: conn, site: early, address: peerAddress };
  }
  const { head } = request;
  if (await answerHealth(conn, head, ctx)) return undefined;
  // A route probe gets every answer, refusals included, in its JSON form.
  const probe = isProbeRequest(head);
  const site: RefusalSite = {
    http: true,
    head,
    tokenPathPrefix: prefix,
    probe: probe || undefined,
  };
  const client: ClientInfo = { peer: conn.peer, clientCertCN: conn.clientCertCN };
  // A direct peer's address is known already; behind a trusted proxy, the client its head
  // names. Checked again: a ban may have started while the head was read.
  const address = peerAddress ?? (ctx.guard && ctx.access.clientAddress(client, head));
  const bannedClient = address === undefined ? null : ctx.guard?.check(address);
  if (bannedClient) return { refusal: bannedClient, stream: conn, site };
  if (probe) {
    // 3 without 4 and 5: the upgrade's route step, answered; a refusal counts toward a ban.
    const refused = await answerProbe(conn, head, client, ctx.access, prefix);
    return refused ? { refusal: refused, stream: conn, site, address } : undefined;
  }
  if (!isUpgradeRequest(head)) {
    const answered = await plainHttp(conn, head, client, ctx);
    // The web side's own refusals (--web-auth's 401 challenge, which every
    // browser meets first) are logged at debug, as its other answers are.
    return answered
      ? {
        refusal: answered.refusal,
        stream: conn,
        site: { ...site, quiet: answered.fromWeb },
        address,
      }
      : undefined;
  }
  let upgrade: Upgrade;
  try {
    upgrade = validateUpgrade(head);
  } catch (e) {
    if (e instanceof HttpError) {
      return { refusal: httpErrorRefusal(e), stream: conn, site, address };
    }
    throw e;
  }
  // 3. authorise and route.
  const route = await ctx.access.route(head, client);
  if (isRefusal(route)) return { refusal: route, stream: conn, site, address };
  client.address = route.address;
  // 4. connect, 5. relay.
  return await connectAndRelay(conn, { id, client, route, request, upgrade }, ctx);
}

/**
 * Answers a health check (`/healthz`, `/readyz`) when `head` is one; true
 * when it did. It comes before the checks of the client that need the head
 * (a client a trusted proxy names, address lists, `--web-auth`), so a
 * balancer needs no credentials and a check is never counted, limited or
 * refused for its own sake; only a banned peer address is refused earlier,
 * before any head is read. Not logged: balancers ask every few seconds.
 */
async function answerHealth(
  stream: ByteStream,
  head: RequestHead,
  ctx: ProxyContext,
): Promise<boolean> {
  const res = !isUpgradeRequest(head) ? ctx.health?.(head) : undefined;
  if (!res) return false;
  await writeResponse(stream, res, { headOnly: head.method === "HEAD" });
  return true;
}

/**
 * Serves a plain HTTP request; resolves a refusal to answer instead, and
 * whether it came from the web handler.
 */
async function plainHttp(
  stream: ByteStream,
  head: RequestHead,
  client: ClientInfo,
  ctx: ProxyContext,
): Promise<{ refusal: Refusal; fromWeb: boolean } | undefined> {
  if (!ctx.web) {
    const no = refusal("no_web", 405, "this server only accepts WebSocket upgrades", {
      Allow: "GET",
    });
    return { refusal: no, fromWeb: false };
  }
  const res = await ctx.web(head, client);
  if (isRefusal(res)) return { refusal: res, fromWeb: true };
  logDebug("http", {
    client: stream.peer,
    method: head.method,
    path: logPath(head.path, ctx.config.tokenPathPrefix),
    status: res.status,
  });
  await writeResponse(stream, res, { headOnly: head.method === "HEAD" });
  return undefined;
}

/** An admitted session: its connection number, client and route, and for WebSocket the request. */
interface Admitted {
  id: number;
  client: ClientInfo;
  route: Route;
  /** The request and its upgrade (WebSocket sessions; absent for raw ones). */
  request?: Request;
  upgrade?: Upgrade;
  /** The view-only/clipboard filter around the target's stream, when the route's policy asks. */
  filter?: RfbFilter;
}

/** Steps 4 and 5: connects the route's target and relays; the route's slot is released at the end. */
async function connectAndRelay(
  stream: ByteStream,
  session: Admitted,
  ctx: ProxyContext,
): Promise<Refused | undefined> {
  const { route, client, request } = session;
  try {
    const target = await connectTarget(stream, route.target, ctx, client.address);
    if (isRefusal(target)) {
      const site: RefusalSite = {
        http: request !== undefined,
        head: request?.head,
        target: formatTarget(route.target),
        tokenPathPrefix: ctx.config.tokenPathPrefix,
      };
      return { refusal: target, stream, site };
    }
    // 4½. the RFB gateway: vncws authenticates to the server (sessions that need it only),
    // then the policy filter (view-only, clipboard) over what the gateway hands on.
    const reconnect = () => connectTarget(stream, route.target, ctx, client.address);
    const served = await rfbStep(target, route, ctx, reconnect);
    const filter = policyFilter(served, route, client, ctx.sessions);
    await relay(stream, filter ?? served, { ...session, filter }, ctx);
    return undefined;
  } finally {
    route.release();
  }
}

/** Step 4: connects `target`, sending the PROXY header first when configured. */
async function connectTarget(
  client: ByteStream,
  target: Target,
  ctx: ProxyContext,
  address?: string,
): Promise<ByteStream | Refusal> {
  const t0 = performance.now();
  let conn: ByteStream;
  try {
    conn = await ctx.connector.connect(target);
  } catch (e) {
    const msg = e instanceof ConnectError ? e.message : `cannot connect to the target: ${e}`;
    return refusal("connect_failed", 502, msg);
  }
  ctx.sessions.connected((performance.now() - t0) / 1000);
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
      return refusal(
        "connect_failed",
        502,
        `cannot send the PROXY header to ${formatTarget(target)}: ${e}`,
      );
    }
  }
  return conn;
}

/** Step 5: the relay, WebSocket (after the 101) or raw, with the session's hooks. */
async function relay(
  stream: ByteStream,
  target: ByteStream,
  session: Admitted,
  ctx: ProxyContext,
): Promise<void> {
  const { id, client, route, request, upgrade, filter } = session;
  const c = ctx.config;
  const started = Date.now();
  const where = formatTarget(route.target);
  if (!request || !upgrade) {
    const hooks = ctx.sessions.openSession({ id, client, target: route.target, kind: "raw" });
    const watch = ctx.lifetimes?.watch(route);
    const result = await relayRaw(stream, target, {
      idleTimeout: c.sessionIdleTimeout,
      signal: sessionSignal(ctx.signal, hooks.signal, watch?.signal, filter?.signal),
      ...hooks.options,
    });
    watch?.stop();
    hooks.end(result);
    log("info", "raw session end", {
      client: stream.peer,
      target: where,
      up: result.toTarget,
      down: result.toClient,
      ms: Date.now() - started,
      reason: result.reason,
      dropped: filter?.dropped(),
    }, SESSION_JSON_NAMES);
    return;
  }
  try {
    await stream.writeAll(encoder.encode(switchingProtocols(upgrade)));
  } catch {
    target.close();
    return;
  }
  // `from` is the client named by a trusted proxy; `cn` the verified certificate's CN.
  const who = {
    client: client.peer,
    from: client.address && client.address !== peerIp(client.peer) ? client.address : undefined,
    cn: client.clientCertCN,
  };
  log("debug", "session start", {
    ...who,
    target: where,
    token: route.label,
    protocol: upgrade.protocol,
  }, SESSION_JSON_NAMES);
  const hooks = ctx.sessions.openSession({
    id,
    client,
    target: route.target,
    kind: "ws",
    token: route.label,
  });
  const watch = ctx.lifetimes?.watch(route);
  const result = await relayWebSocket(stream, target, {
    leftover: request.leftover,
    maxMessageBytes: c.limits.maxMessageBytes,
    heartbeat: c.heartbeat,
    pingTimeout: c.pingTimeout,
    idleTimeout: c.sessionIdleTimeout,
    signal: sessionSignal(ctx.signal, hooks.signal, watch?.signal, filter?.signal),
    ...hooks.options,
  });
  watch?.stop();
  hooks.end(result);
  log("info", "session end", {
    ...who,
    target: where,
    token: route.label,
    up: result.toTarget,
    down: result.toClient,
    ms: Date.now() - started,
    code: result.code,
    reason: result.reason,
    dropped: filter?.dropped(),
  }, SESSION_JSON_NAMES);
}

/**
 * Shutdown, or this session's own end when it has one: an administrator's
 * request, or its time or token running out (`ctx.lifetimes`).
 */
function sessionSignal(shutdown: AbortSignal, ...own: (AbortSignal | undefined)[]): AbortSignal {
  const signals = own.filter((s): s is AbortSignal => s !== undefined);
  return signals.length > 0 ? AbortSignal.any([shutdown, ...signals]) : shutdown;
}
