/**
 * vncws inside a `Deno.serve` app: a handler that answers a WebSocket
 * upgrade by connecting a TCP (or unix, or TLS) target first and then
 * relaying binary messages both ways, with vncws's subprotocol choice,
 * close rules and typed refusals. The app keeps its own routes; it hands
 * this handler the requests of its WebSocket path.
 *
 * Deno's `WebSocket` has no read backpressure (messages arrive as events)
 * and only `bufferedAmount` for writes, so the relay bounds memory itself:
 * the target is not read while more than `highWaterMark` bytes wait to go
 * to the client, and a client that sends faster than the target reads is
 * closed (1008) once `maxQueuedBytes` wait to go to the target.
 * @module
 */
import { isRefusal, type Refusal, refusal } from "../auth/refusal.ts";
import { logDebug } from "../base/log.ts";
import { sleep } from "../base/time.ts";
import { HttpError, type RequestHead } from "../http/head.ts";
import { formatTarget, type Target } from "../net/address.ts";
import { ConnectError, type ConnectOptions, connectTarget } from "../net/connect.ts";
import type { ByteStream } from "../net/stream.ts";
import { isProbeRequest } from "../proxy/probe.ts";
import { probeAdmitted, refusalResponse, webResponse } from "../proxy/refuse.ts";
import { httpErrorRefusal } from "../proxy/sniff.ts";
import { isUpgradeRequest, validateUpgrade } from "../ws/handshake.ts";

const encoder = new TextEncoder();
/** What a route says: go to a target, refuse, or (null) there is no target. */
export type RouteAnswer = Target | Refusal | null;

/** Stop reading the target while this many bytes wait to go to the client (default 1 MiB). */
export const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;
/** Read the target again once no more than this many bytes wait (default 256 KiB). */
export const DEFAULT_LOW_WATER_MARK = 256 * 1024;
/** Close a client that has this many bytes waiting to go to the target (default 8 MiB). */
export const DEFAULT_MAX_QUEUED_BYTES = 8 * 1024 * 1024;
/** The close code for a client that outruns its target (policy violation). */
export const CLOSE_CLIENT_TOO_FAST = 1008;
/** The close reason sent with {@linkcode CLOSE_CLIENT_TOO_FAST}. */
export const REASON_CLIENT_TOO_FAST = "client sends faster than the target reads";

/** How a session ended, with the numbers to judge its memory use by. */
export interface DenoServeSessionResult {
  /** The target, as logs show it. */
  target: string;
  /** The subprotocol answered, if any. */
  protocol?: string;
  /** Bytes from the target sent to the client. */
  bytesToClient: number;
  /** Bytes from the client written to the target. */
  bytesToTarget: number;
  /** The close code: sent by the relay, or received from the client. */
  code: number;
  /** Why the session ended, in words. */
  reason: string;
  /** The most bytes that waited at once to go to the target (bounded by `maxQueuedBytes`). */
  peakQueuedToTarget: number;
  /** The highest `bufferedAmount` seen right after a send to the client. */
  peakBufferedToClient: number;
}

/** Options for {@linkcode upgradeToTarget} and {@linkcode vncwsHandler}. */
export interface DenoServeRelayOptions {
  /** How the target is connected (timeout, TLS for `tls` targets). */
  connect?: ConnectOptions;
  /** See {@linkcode DEFAULT_HIGH_WATER_MARK}. */
  highWaterMark?: number;
  /** See {@linkcode DEFAULT_LOW_WATER_MARK}. */
  lowWaterMark?: number;
  /** See {@linkcode DEFAULT_MAX_QUEUED_BYTES}. */
  maxQueuedBytes?: number;
  /** How often `bufferedAmount` is looked at while the target is paused (default 5 ms). */
  pollMs?: number;
  /** Size of each read from the target (default 64 KiB). */
  readSize?: number;
  /** Called once when a session ends. */
  onSessionEnd?: (result: DenoServeSessionResult) => void;
  /** Called for every refusal answered (a failed connect, a bad upgrade, the route's own). */
  onRefused?: (refusal: Refusal, request: Request) => void;
}

/** Options for {@linkcode vncwsHandler}. */
export interface VncwsHandlerOptions extends DenoServeRelayOptions {
  /** Where a request goes; a {@linkcode Refusal} is answered as is, null as 404. */
  route: (request: Request, info: Deno.ServeHandlerInfo) => RouteAnswer | Promise<RouteAnswer>;
}

/** The request as the handshake module reads it (Deno.serve has parsed it already). */
function requestHead(request: Request): RequestHead {
  const url = new URL(request.url);
  const headers = new Map<string, string>();
  for (const [k, v] of request.headers) headers.set(k.toLowerCase(), v);
  return {
    method: request.method,
    target: url.pathname + url.search,
    path: url.pathname,
    query: url.searchParams,
    // Deno.serve hands over an upgrade only on HTTP/1.1.
    version: "HTTP/1.1",
    headers,
    headerCount: headers.size,
  };
}

/** Validates the upgrade; its answer is the subprotocol to choose, or a refusal. */
function checkUpgrade(request: Request): { protocol?: string } | Refusal {
  const head = requestHead(request);
  if (!isUpgradeRequest(head)) {
    return refusal("bad_request", 426, "this path serves WebSocket connections only", {
      Upgrade: "websocket",
    });
  }
  try {
    return { protocol: validateUpgrade(head).protocol };
  } catch (e) {
    if (!(e instanceof HttpError)) throw e;
    return httpErrorRefusal(e);
  }
}

function refused(
  r: Refusal,
  request: Request,
  options: DenoServeRelayOptions,
  probe = false,
): Response {
  options.onRefused?.(r, request);
  logDebug("refused", {
    kind: r.kind,
    status: r.status,
    why: r.detail ?? r.reason,
    probe: probe || undefined,
  });
  return refusalResponse(r, request.method === "HEAD", probe);
}

/**
 * A route probe (`X-Vncws-Probe: 1` on a plain GET, src/proxy/probe.ts):
 * the route's answer as JSON, nothing connected.
 */
async function answerProbe(
  request: Request,
  info: Deno.ServeHandlerInfo,
  options: VncwsHandlerOptions,
): Promise<Response> {
  const answer = await options.route(request, info);
  if (answer === null) {
    return refused(refusal("no_target", 404, "no target for this request"), request, options, true);
  }
  if (isRefusal(answer)) return refused(answer, request, options, true);
  logDebug("http", { method: request.method, status: 200, probe: true });
  return webResponse(probeAdmitted(false), request.method === "HEAD");
}

/**
 * Answers one WebSocket upgrade request: validates it, connects `target`
 * (a failure is a 502 with the reason), then upgrades and relays until one
 * side ends. A request that is not a valid upgrade gets the refusal's
 * response (400, 405 or 426).
 */
export async function upgradeToTarget(
  request: Request,
  target: Target,
  options: DenoServeRelayOptions = {},
): Promise<Response> {
  const checked = checkUpgrade(request);
  if (isRefusal(checked)) return refused(checked, request, options);
  return await connectAndUpgrade(request, target, checked.protocol, options);
}

/** Connects `target` (502 with the reason when it cannot be), then upgrades and relays. */
async function connectAndUpgrade(
  request: Request,
  target: Target,
  protocol: string | undefined,
  options: DenoServeRelayOptions,
): Promise<Response> {
  let stream: ByteStream;
  try {
    stream = await connectTarget(target, options.connect);
  } catch (e) {
    if (!(e instanceof ConnectError)) throw e;
    const r: Refusal = {
      ...refusal("connect_failed", 502, e.message),
      log: { target: formatTarget(target) },
    };
    return refused(r, request, options);
  }
  let upgraded: { socket: WebSocket; response: Response };
  try {
    upgraded = upgrade(request, protocol);
  } catch (e) {
    stream.close();
    const why = e instanceof Error ? e.message : String(e);
    return refused(refusal("bad_request", 400, why), request, options);
  }
  relay(upgraded.socket, stream, formatTarget(target), protocol, options);
  return upgraded.response;
}

/**
 * `Deno.upgradeWebSocket` with the chosen subprotocol. Deno finds the
 * protocol only in a list separated by ", ", and refuses "binary,base64"
 * (what npm ws sends), so the answer's header is set here instead.
 */
function upgrade(request: Request, protocol: string | undefined) {
  const upgraded = Deno.upgradeWebSocket(request);
  if (protocol) upgraded.response.headers.set("Sec-WebSocket-Protocol", protocol);
  return upgraded;
}

/**
 * A `Deno.serve` handler for the app's WebSocket path: `route` picks the
 * target (or refuses) for each request, then {@linkcode upgradeToTarget}
 * answers. A request that is not an upgrade is refused with 426 before the
 * route is asked, except a route probe (a GET with `X-Vncws-Probe: 1`):
 * `route` is asked and its answer given as JSON (`{"ok":true}`, or the
 * refusal's status with `{"ok":false,"status":N,"reason":"..."}`), with
 * nothing connected.
 */
export function vncwsHandler(
  options: VncwsHandlerOptions,
): (request: Request, info: Deno.ServeHandlerInfo) => Promise<Response> {
  return async (request, info) => {
    if (isProbeRequest(requestHead(request))) return await answerProbe(request, info, options);
    const checked = checkUpgrade(request);
    if (isRefusal(checked)) return refused(checked, request, options);
    const answer = await options.route(request, info);
    if (answer === null) {
      return refused(refusal("no_target", 404, "no target for this request"), request, options);
    }
    if (isRefusal(answer)) return refused(answer, request, options);
    return await connectAndUpgrade(request, answer, checked.protocol, options);
  };
}

/** Runs one session: target → client with a bufferedAmount pause, client → target through a bounded queue. */
function relay(
  ws: WebSocket,
  stream: ByteStream,
  target: string,
  protocol: string | undefined,
  options: DenoServeRelayOptions,
): void {
  const high = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  const low = Math.min(options.lowWaterMark ?? DEFAULT_LOW_WATER_MARK, high);
  const maxQueued = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
  const pollMs = options.pollMs ?? 5;
  const result: DenoServeSessionResult = {
    target,
    protocol,
    bytesToClient: 0,
    bytesToTarget: 0,
    code: 1005,
    reason: "",
    peakQueuedToTarget: 0,
    peakBufferedToClient: 0,
  };
  let ended = false;
  let ending: { code: number; reason: string } | undefined;
  // Chunks from the client that the target has not taken yet, and their sum.
  const queue: Uint8Array[] = [];
  let queued = 0;
  let writing: Promise<void> | undefined;
  let clientGone = false;
  ws.binaryType = "arraybuffer";

  /** Ends the session once: closes the WebSocket (if open) and the target. */
  const finish = (code: number, reason: string, sendClose: boolean) => {
    if (ended) return;
    ended = true;
    result.code = code;
    result.reason = reason;
    if (sendClose && ws.readyState === WebSocket.OPEN) {
      try {
        ws.close(code, reason);
      } catch { /* closing already */ }
    }
    stream.close();
    options.onSessionEnd?.(result);
  };

  const drain = async () => {
    while (queue.length > 0 && !ended) {
      const chunk = queue[0];
      try {
        await stream.writeAll(chunk);
      } catch {
        finish(1011, "Target write failed", true);
        return;
      }
      queue.shift();
      queued -= chunk.length;
      result.bytesToTarget += chunk.length;
    }
    writing = undefined;
    if (clientGone && !ended) {
      // Everything the client sent has reached the target: pass its close on as a FIN.
      try {
        await stream.closeWrite();
      } catch { /* target gone already */ }
      finish(ending!.code, ending!.reason, false);
    }
  };

  ws.onmessage = (ev: MessageEvent) => {
    if (ended || clientGone) return;
    const data = typeof ev.data === "string"
      ? encoder.encode(ev.data)
      : new Uint8Array(ev.data as ArrayBuffer);
    if (data.length === 0) return;
    if (queued + data.length > maxQueued) {
      finish(CLOSE_CLIENT_TOO_FAST, REASON_CLIENT_TOO_FAST, true);
      return;
    }
    queue.push(data);
    queued += data.length;
    if (queued > result.peakQueuedToTarget) result.peakQueuedToTarget = queued;
    writing ??= drain();
  };

  ws.onclose = (ev: CloseEvent) => {
    if (ended) return;
    clientGone = true;
    ending = { code: ev.code, reason: ev.reason ? `client closed: ${ev.reason}` : "client closed" };
    writing ??= drain();
  };
  ws.onerror = () => {/* onclose follows and ends the session */};

  const pump = async () => {
    const buf = new Uint8Array(options.readSize ?? 64 * 1024);
    while (!ended && !clientGone) {
      let n: number | null;
      try {
        n = await stream.read(buf);
      } catch {
        finish(1011, "Target connection failed", true);
        return;
      }
      if (ended || clientGone) return;
      if (n === null) {
        finish(1000, "Target closed", true);
        return;
      }
      ws.send(buf.slice(0, n));
      result.bytesToClient += n;
      const buffered = ws.bufferedAmount;
      if (buffered > result.peakBufferedToClient) result.peakBufferedToClient = buffered;
      if (buffered > high) {
        // The client reads slower than the target sends: leave the target's
        // bytes in the kernel (TCP pushes back on it) until the queue drains.
        while (ws.bufferedAmount > low && ws.readyState === WebSocket.OPEN && !ended) {
          await sleep(pollMs);
        }
      }
    }
  };
  ws.onopen = () => {
    pump();
  };
}
