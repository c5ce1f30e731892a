/**
 * The first two steps of a connection: **sniff** (what speaks — TLS, HTTP,
 * or a silent native VNC viewer) and **head** (read and parse the request
 * head within `--head-timeout` and `--max-head-size`). Each returns a value
 * for the next step or a {@linkcode Refusal}; neither writes an answer.
 * @module
 */
import { type Refusal, refusal } from "../auth/refusal.ts";
import { logDebug, logInfo, logWarn } from "../base/log.ts";
import { raceTimeout, STOPPED, TIMEOUT } from "../base/time.ts";
import { findHeadEnd, HttpError, parseRequestHead, type RequestHead } from "../http/head.ts";
import { PendingReadStream } from "../net/pending_read.ts";
import { startsWithProxyHeader } from "../net/proxy_protocol_in.ts";
import { type ByteStream, PrefixedStream, readBefore } from "../net/stream.ts";
import type { ProxyContext } from "./context.ts";

/** What {@linkcode sniff} found. */
export type Sniffed =
  /** Nothing to do: the client left or stayed silent, or vncws is stopping (logged). */
  | { kind: "gone" }
  /** A silent client to relay raw; `stream` delivers its bytes from the first. */
  | { kind: "raw"; stream: ByteStream }
  /**
   * A client that speaks (HTTP, perhaps over TLS): `stream` is the one to
   * read the head from (the TLS stream after a handshake: close it too),
   * `initial` the bytes already read.
   */
  | { kind: "http"; stream: ByteStream; initial: Uint8Array };

/**
 * Waits for the client's first bytes: within `--raw-wait` when raw relaying
 * is allowed (a silent client is then a native VNC viewer), else within
 * `--head-timeout`. A ClientHello is answered with the TLS handshake.
 */
export async function sniff(stream: ByteStream, ctx: ProxyContext): Promise<Sniffed | Refusal> {
  const { limits, tls } = ctx.config;
  // With --ssl-only a raw client would get around TLS: never relay raw then.
  const rawOK = ctx.access.rawAllowed && limits.rawWait > 0 && !tls.sslOnly;
  // Sniff and head buffers are dropped before relaying: idle sessions keep only the relay's.
  const first = new Uint8Array(4096);
  const pending = stream.read(first);
  const r = await raceTimeout(
    pending,
    (rawOK ? limits.rawWait : limits.headTimeout) * 1000,
    ctx.stopping,
  );
  if (r === STOPPED) {
    pending.catch(() => {});
    logDebug("closed a connection that sent nothing: vncws is stopping", { client: stream.peer });
    return { kind: "gone" };
  }
  if (r === TIMEOUT) {
    if (rawOK) {
      const warn = (bytes: Uint8Array) => warnIfHttp(stream.peer, bytes);
      return { kind: "raw", stream: new PendingReadStream(stream, pending, first, warn) };
    }
    pending.catch(() => {});
    logInfo("closed a silent connection", {
      client: stream.peer,
      why: `nothing received within ${limits.headTimeout}s` +
        "; raw relaying is off (token routing, auth or --raw-wait 0)",
    });
    return { kind: "gone" };
  }
  if (r === null) {
    logDebug("client closed before sending anything", { client: stream.peer });
    return { kind: "gone" };
  }
  const initial = first.slice(0, r);
  // Listed balancers' headers were read before the sniff: this one would name someone else.
  if (startsWithProxyHeader(initial)) {
    return refusal(
      "bad_request",
      400,
      "a PROXY protocol header from a peer not in --accept-proxy-protocol",
    );
  }
  if (initial[0] === 0x16 || initial[0] === 0x80) {
    if (!ctx.tls) return refusal("tls_unavailable", 400, "no certificate configured (--cert)");
    try {
      const secure = await ctx.tls(new PrefixedStream(stream, initial), { signal: ctx.stopping });
      return { kind: "http", stream: secure, initial: new Uint8Array(0) };
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      // A client certificate presented and refused is a failed attempt (bans); a missing one
      // and other handshake failures are not.
      const refusedCert = /client certificate/.test(why) && !/no client certificate/.test(why);
      return refusal(refusedCert ? "client_cert" : "tls_failed", 400, why);
    }
  }
  if (tls.sslOnly) return refusal("tls_required", 400, "plain connection: --ssl-only is set");
  return { kind: "http", stream, initial };
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

/** A byte that may start an HTTP method token. */
function looksLikeHttp(buf: Uint8Array): boolean {
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (c === 0x20) return i > 0;
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/** A request head, and the bytes the client sent after it (pipelined frames). */
export interface Request {
  /** The parsed head. */
  head: RequestHead;
  /** Bytes after the head (pipelined WebSocket frames). */
  leftover: Uint8Array;
}

/**
 * Reads the request head after `initial`: the parsed head, a refusal (not
 * HTTP, too large, too slow, malformed, vncws stopping), or undefined when
 * the client closed (logged).
 */
export async function readHead(
  stream: ByteStream,
  initial: Uint8Array,
  ctx: ProxyContext,
): Promise<Request | Refusal | undefined> {
  const { limits } = ctx.config;
  const deadline = Date.now() + limits.headTimeout * 1000;
  let buf = new Uint8Array(Math.max(4096, initial.length * 2));
  buf.set(initial);
  let len = initial.length;
  let end = findHeadEnd(buf.subarray(0, len));
  while (end < 0) {
    if (!looksLikeHttp(buf.subarray(0, Math.min(len, 32)))) {
      return refusal("bad_request", 400, "not an HTTP request");
    }
    if (len > limits.maxHeadBytes) {
      return refusal(
        "head_too_large",
        431,
        `request head larger than ${limits.maxHeadBytes} bytes`,
      );
    }
    if (len === buf.length) {
      const bigger = new Uint8Array(buf.length * 2);
      bigger.set(buf);
      buf = bigger;
    }
    const r = await readBefore(stream, buf.subarray(len), deadline, ctx.stopping);
    if (r === STOPPED) return refusal("stopping", 503, "vncws is stopping");
    if (r === TIMEOUT) {
      return refusal(
        "head_timeout",
        408,
        `request head not complete within ${limits.headTimeout}s`,
      );
    }
    if (r === null) {
      logDebug("client closed during the request head", { client: stream.peer });
      return undefined;
    }
    const from = len;
    len += r;
    end = findHeadEnd(buf.subarray(0, len), from);
  }
  try {
    return { head: parseRequestHead(buf.subarray(0, end), limits), leftover: buf.slice(end, len) };
  } catch (e) {
    if (e instanceof HttpError) return httpErrorRefusal(e);
    throw e;
  }
}

/** A parser's or the handshake's {@linkcode HttpError} as a refusal. */
export function httpErrorRefusal(e: HttpError): Refusal {
  return refusal(e.status === 431 ? "head_too_large" : "bad_request", e.status, e.message, {
    ...e.headers,
  });
}
