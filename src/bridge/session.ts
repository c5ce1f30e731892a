/**
 * One bridge session: a local connection, its own WebSocket (URL fixed or
 * from `--url-command`), the relay, and one log line at the end.
 * @module
 */
import { logDebug, logInfo, logWarn } from "../base/log.ts";
import type { ByteStream } from "../net/stream.ts";
import type { BridgeConfig } from "../config/bridge.ts";
import { PendingReadStream } from "../net/pending_read.ts";
import { INITIAL_BUFFER, relayWebSocketClient } from "../ws/relay.ts";
import type { BridgeTlsOptions } from "./transport.ts";
import { runUrlCommand, UrlCommandError } from "./url_command.ts";
import { connectWebSocket, redactUrl, type WsConnection } from "./ws_client.ts";

/** What every session shares. */
export interface BridgeContext {
  /** The bridge's settings. */
  config: BridgeConfig;
  /** TLS settings with the files already read. */
  tls: BridgeTlsOptions;
  /** Aborted on shutdown: sessions close with 1001. */
  signal: AbortSignal;
  /** How long a URL command may run (default 60 s). */
  urlCommandTimeoutMs?: number;
}

class LocalLeftError extends Error {}

/** How a session went: whether the WebSocket opened, and the error when not. */
export interface SessionOutcome {
  /** The WebSocket opened (the session relayed, however it ended). */
  opened: boolean;
  /** Why it did not open, safe to log. */
  error?: string;
}

/** Opens the WebSocket for `local`, relays until the end, closes both. Never throws. */
export async function runSession(local: ByteStream, ctx: BridgeContext): Promise<SessionOutcome> {
  const started = Date.now();
  const c = ctx.config;
  logDebug("connection", { client: local.peer });
  let url = c.url;
  let ws: WsConnection;
  // Watch the local side while the WebSocket opens: a viewer that gives up, or a port probe,
  // must not leave an attempt (and maybe a single-use ticket) behind. A client that speaks
  // first has its bytes kept for the relay.
  const firstBuf = new Uint8Array(INITIAL_BUFFER);
  const firstRead = local.read(firstBuf);
  const localLeft = new AbortController();
  firstRead.then((n) => {
    if (n === null) localLeft.abort();
  }, () => localLeft.abort());
  const left = () => localLeft.signal.aborted;
  try {
    if (!url) {
      url = await runUrlCommand(c.urlCommand!, { timeoutMs: ctx.urlCommandTimeoutMs ?? 60_000 });
    }
    if (left()) throw new LocalLeftError();
    const hasUserinfo = url.username !== "" || url.password !== "";
    ws = await connectWebSocket(url, {
      protocols: c.protocols,
      allowNoProtocol: c.allowNoProtocol,
      headers: c.headers,
      origin: c.origin,
      userAgent: c.userAgent,
      basicAuth: c.basicAuth ?? (hasUserinfo ? undefined : c.envAuth),
      cookies: c.cookies,
      tls: ctx.tls,
      timeoutMs: c.connectTimeout * 1000,
      signal: AbortSignal.any([ctx.signal, localLeft.signal]),
    });
    if (left()) {
      ws.stream.close();
      throw new LocalLeftError();
    }
  } catch (e) {
    local.close();
    if (left()) {
      logInfo("local side left before the WebSocket opened", { client: local.peer });
      return { opened: false, error: "local side left" };
    }
    const why = e instanceof Error ? e.message : String(e);
    logWarn(e instanceof UrlCommandError ? "no URL for the connection" : "WebSocket failed", {
      client: local.peer,
      why,
    });
    return { opened: false, error: why };
  }
  const where = redactUrl(url);
  logDebug("session start", { client: local.peer, url: where, protocol: ws.protocol });
  // The relay's client side is the local stream, its first read the one already under way.
  const result = await relayWebSocketClient(
    new PendingReadStream(local, firstRead, firstBuf),
    ws.stream,
    {
      leftover: ws.leftover,
      heartbeat: c.pingInterval,
      pingTimeout: c.pingTimeout,
      signal: ctx.signal,
    },
  );
  logInfo("session end", {
    client: local.peer,
    url: where,
    up: result.toTarget,
    down: result.toClient,
    ms: Date.now() - started,
    code: result.code,
    reason: result.reason,
  });
  return { opened: true };
}
