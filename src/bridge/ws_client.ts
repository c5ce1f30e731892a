/**
 * The client side of the WebSocket opening handshake (RFC 6455 §4.1) for
 * the bridge: builds the upgrade request (Host, random key, version 13,
 * subprotocols exactly as given, extra headers, Origin, User-Agent, Basic
 * auth, cookies), reads the answer and checks it. Failures say what the
 * server answered (status and the start of the body) and never contain the
 * credentials.
 * @module
 */
import type { ByteStream } from "../net/stream.ts";
import { acceptKey, headerTokens } from "../ws/handshake.ts";
import { type BridgeTlsOptions, openTransport, TransportError } from "./transport.ts";
import { concatBytes } from "../base/bytes.ts";
import { findHeadEnd } from "../http/head.ts";

/** Options for {@linkcode connectWebSocket}. */
export interface WsClientOptions {
  /** `Sec-WebSocket-Protocol` value, sent exactly as given (`--protocol`). */
  protocols?: string;
  /** Continue when the server picks none of `protocols` (`--allow-no-protocol`). */
  allowNoProtocol?: boolean;
  /** Extra request headers in order (`-H`); a name here replaces a default of that name. */
  headers?: Array<[string, string]>;
  /** `Origin` header (`--origin`); none by default. */
  origin?: string;
  /** `User-Agent` header (default {@linkcode DEFAULT_USER_AGENT}). */
  userAgent?: string;
  /** `user:pass` for `Authorization: Basic` (the URL's userinfo is the fallback). */
  basicAuth?: string;
  /** Cookie header values, joined with `; `. */
  cookies?: string[];
  /** TLS settings for wss:// URLs. */
  tls?: BridgeTlsOptions;
  /** Give up after this many milliseconds (TCP, TLS and handshake together). */
  timeoutMs?: number;
  /** Aborting gives up. */
  signal?: AbortSignal;
}

/** An open WebSocket connection (after the 101). */
export interface WsConnection {
  /** The connection, positioned after the response head. */
  stream: ByteStream;
  /** The subprotocol the server chose, if any. */
  protocol?: string;
  /** Bytes read after the response head (the first frames). */
  leftover: Uint8Array;
}

/** The WebSocket could not be opened; the message is safe to log and says what to do. */
export class WsClientError extends Error {
  /** HTTP status when the server answered, else 0. */
  readonly status: number;
  /** An error with `message`; `status` is the HTTP status when the server answered. */
  constructor(message: string, status = 0) {
    super(message);
    this.status = status;
  }
}

/** Default `User-Agent`. */
export const DEFAULT_USER_AGENT = "vncws-bridge";

/** Most bytes of an error body shown to the user. */
export const MAX_BODY_SHOWN = 500;

const MAX_RESPONSE_HEAD = 16 * 1024;

function encodeBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}
const enc = new TextEncoder();
const dec = new TextDecoder();

/** A URL for logs and errors: scheme, host, port and path, no userinfo nor query. */
export function redactUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}${url.search ? "?…" : ""}`;
}

/** Splits a `--protocol` list the way the server sees it: comma-separated, trimmed. */
export function protocolList(protocols: string | undefined): string[] {
  return (protocols ?? "").split(",").map((p) => p.trim()).filter((p) => p !== "");
}

/** The `user:pass` to use, from the options or else the URL's userinfo. */
function credentials(url: URL, options: WsClientOptions): string | undefined {
  if (options.basicAuth !== undefined) return options.basicAuth;
  if (url.username || url.password) {
    return `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  }
  return undefined;
}

/** Builds the upgrade request head for `url` with the given key. */
export function buildRequest(url: URL, key: string, options: WsClientOptions = {}): string {
  const path = (url.pathname || "/") + url.search;
  const defaults: Array<[string, string | undefined]> = [
    ["Host", url.host],
    ["User-Agent", options.userAgent ?? DEFAULT_USER_AGENT],
    ["Origin", options.origin],
  ];
  const auth = credentials(url, options);
  if (auth !== undefined) {
    defaults.push(["Authorization", `Basic ${encodeBase64(enc.encode(auth))}`]);
  }
  if (options.cookies?.length) defaults.push(["Cookie", options.cookies.join("; ")]);
  const extra = options.headers ?? [];
  const overridden = new Set(extra.map(([n]) => n.toLowerCase()));
  let head = `GET ${path} HTTP/1.1\r\n`;
  for (const [name, value] of defaults) {
    if (value !== undefined && !overridden.has(name.toLowerCase())) head += `${name}: ${value}\r\n`;
  }
  head += "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`;
  if (options.protocols !== undefined && options.protocols.trim() !== "") {
    head += `Sec-WebSocket-Protocol: ${options.protocols}\r\n`;
  }
  for (const [name, value] of extra) head += `${name}: ${value}\r\n`;
  return head + "\r\n";
}

/** A parsed response head. */
export interface ResponseHead {
  /** The status code (101 for a WebSocket). */
  status: number;
  /** The reason phrase after the code. */
  statusText: string;
  /** Lower-cased names; repeated headers joined with `, `. */
  headers: Map<string, string>;
}

/** Parses an HTTP/1.x response head (without the final blank line). */
export function parseResponseHead(text: string): ResponseHead {
  const lines = text.split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0]);
  if (!m) {
    throw new WsClientError(
      `the server did not answer with HTTP (first line: ${JSON.stringify(lines[0].slice(0, 80))})`,
    );
  }
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  return { status: Number(m[1]), statusText: m[2] ?? "", headers };
}

/** How long an error body may take to arrive once the status line is in. */
const BODY_WAIT_MS = 1000;

/** Decodes as much of a chunked body as `raw` holds (best effort, for error messages). */
function dechunk(raw: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let off = 0;
  while (off < raw.length) {
    const lineEnd = raw.indexOf(10, off);
    if (lineEnd < 0) break;
    const size = parseInt(dec.decode(raw.subarray(off, lineEnd)).trim(), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(raw.subarray(lineEnd + 1, Math.min(raw.length, lineEnd + 1 + size)));
    off = lineEnd + 1 + size + 2;
  }
  return concatBytes(parts);
}

/**
 * Reads the start of an error body (Content-Length, chunked, or until EOF),
 * waiting at most {@linkcode BODY_WAIT_MS}: a server that keeps the
 * connection open must not delay the error.
 */
async function readBodyStart(
  stream: ByteStream,
  head: ResponseHead,
  already: Uint8Array,
): Promise<string> {
  const chunked = headerTokens(head.headers.get("transfer-encoding")).includes("chunked");
  const length = Number(head.headers.get("content-length") ?? NaN);
  // Raw bytes wanted: chunk size lines take a little room too.
  const want = chunked
    ? MAX_BODY_SHOWN + 64
    : Math.min(MAX_BODY_SHOWN + 1, Number.isFinite(length) ? length : MAX_BODY_SHOWN + 1);
  let raw = already.subarray(0, want);
  const buf = new Uint8Array(MAX_BODY_SHOWN);
  const deadline = Date.now() + BODY_WAIT_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    while (raw.length < want && !(chunked && dec.decode(raw).includes("\r\n0\r\n"))) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      const n = await Promise.race([
        stream.read(buf),
        new Promise<null>((r) => timer = setTimeout(() => r(null), left)),
      ]);
      clearTimeout(timer);
      if (n === null) break;
      raw = concatBytes([raw, buf.subarray(0, Math.min(n, want - raw.length))]);
    }
  } catch { /* show what arrived */ }
  clearTimeout(timer);
  const body = chunked ? dechunk(raw) : raw;
  const shown = body.subarray(0, MAX_BODY_SHOWN);
  // Printable text only: a body must not be able to move the cursor of the terminal.
  const text = dec.decode(shown).replace(/\r?\n/g, " ")
    // deno-lint-ignore no-control-regex
    .replace(/[\x00-\x1f\x7f]/g, "?").trim();
  return text + (body.length > MAX_BODY_SHOWN ? "…" : "");
}

/** The redirect target of a 3xx answer, redacted like our own URL. */
function redirectHint(url: URL, head: ResponseHead): string {
  const location = head.headers.get("location");
  if (head.status < 300 || head.status > 399 || !location) return "";
  try {
    return ` (redirected to ${redactUrl(new URL(location, url))}; WebSocket clients do not ` +
      "follow redirects: use that URL, with ws:// or wss://)";
  } catch {
    return " (redirected; WebSocket clients do not follow redirects)";
  }
}

/**
 * Connects to a ws:// or wss:// URL and completes the handshake. Throws
 * {@linkcode WsClientError} (connection, TLS, status, subprotocol, accept key).
 */
export async function connectWebSocket(
  url: URL,
  options: WsClientOptions = {},
): Promise<WsConnection> {
  const secure = url.protocol === "wss:";
  if (!secure && url.protocol !== "ws:") {
    throw new WsClientError(`unsupported URL scheme ${url.protocol}; use ws:// or wss://`);
  }
  const where = redactUrl(url);
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port ? Number(url.port) : secure ? 443 : 80;
  const ac = new AbortController();
  const timeoutMs = options.timeoutMs ?? 10_000;
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const onOuterAbort = () => ac.abort();
  options.signal?.addEventListener("abort", onOuterAbort, { once: true });
  let stream: ByteStream | undefined;
  const onAbort = () => stream?.close();
  ac.signal.addEventListener("abort", onAbort, { once: true });
  try {
    try {
      stream = await openTransport({ hostname, port, tls: secure }, {
        tls: options.tls,
        signal: ac.signal,
      });
    } catch (e) {
      const why = e instanceof TransportError ? e.message : String(e);
      throw new WsClientError(`cannot connect to ${where}: ${why}`);
    }
    const key = encodeBase64(crypto.getRandomValues(new Uint8Array(16)));
    try {
      await stream.writeAll(enc.encode(buildRequest(url, key, options)));
    } catch (e) {
      throw new WsClientError(`cannot send the handshake to ${where}: ${String(e)}`);
    }
    // Read the response head.
    let buf: Uint8Array = new Uint8Array(0);
    const chunk = new Uint8Array(4096);
    let end = -1;
    while (end < 0) {
      let n: number | null;
      try {
        n = await stream.read(chunk);
      } catch (e) {
        if (ac.signal.aborted) break;
        throw new WsClientError(
          `${where} dropped the connection during the handshake: ${String(e)}`,
        );
      }
      if (n === null) break;
      buf = concatBytes([buf, chunk.subarray(0, n)]);
      end = findHeadEnd(buf);
      if (end < 0 && buf.length > MAX_RESPONSE_HEAD) {
        throw new WsClientError(`${where} sent a response head over ${MAX_RESPONSE_HEAD} bytes`);
      }
    }
    if (end < 0) {
      if (ac.signal.aborted && !options.signal?.aborted) {
        throw new WsClientError(
          `${where} did not answer the handshake within ${timeoutMs / 1000}s ` +
            "(raise --connect-timeout if the server is slow)",
        );
      }
      // A TLS 1.3 server refuses a missing client certificate only after the handshake, and
      // node:tls in Deno shows that alert as a plain end of stream.
      const certHint = secure && !options.tls?.cert
        ? " (a TLS server does this when it wants a client certificate: --cert FILE --key FILE)"
        : "";
      throw new WsClientError(
        `${where} closed the connection without answering the handshake${certHint}`,
      );
    }
    const head = parseResponseHead(dec.decode(buf.subarray(0, end - 4)));
    const rest = buf.slice(end);
    if (head.status !== 101) {
      const body = await readBodyStart(stream, head, rest);
      const hint = head.status === 401 || head.status === 403
        ? " (check the credentials or ticket: -H, --basic-auth, --cookie, or a fresh URL)"
        : head.status === 404
        ? " (check the URL path)"
        : redirectHint(url, head);
      throw new WsClientError(
        `${where} refused the WebSocket: HTTP ${head.status} ${head.statusText}${hint}` +
          (body ? `: ${body}` : ""),
        head.status,
      );
    }
    checkUpgradeAnswer(head, key, where, options);
    clearTimeout(timer);
    ac.signal.removeEventListener("abort", onAbort);
    return {
      stream,
      protocol: head.headers.get("sec-websocket-protocol"),
      leftover: rest,
    };
  } catch (e) {
    stream?.close();
    if (e instanceof WsClientError) throw e;
    throw new WsClientError(`cannot open ${where}: ${e instanceof Error ? e.message : e}`);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onOuterAbort);
  }
}

/** Checks a 101 answer: upgrade headers, accept key and the chosen subprotocol. */
export function checkUpgradeAnswer(
  head: ResponseHead,
  key: string,
  where: string,
  options: WsClientOptions = {},
): void {
  if (!headerTokens(head.headers.get("upgrade")).includes("websocket")) {
    throw new WsClientError(`${where} answered 101 without "Upgrade: websocket"`);
  }
  if (!headerTokens(head.headers.get("connection")).includes("upgrade")) {
    throw new WsClientError(`${where} answered 101 without "Connection: Upgrade"`);
  }
  if (head.headers.get("sec-websocket-accept") !== acceptKey(key)) {
    throw new WsClientError(
      `${where} answered with a wrong Sec-WebSocket-Accept (not a WebSocket server, ` +
        "or a proxy in between rewrote the handshake)",
    );
  }
  const offered = protocolList(options.protocols);
  const chosen = head.headers.get("sec-websocket-protocol");
  if (chosen !== undefined) {
    if (!offered.includes(chosen)) {
      throw new WsClientError(
        `${where} chose the subprotocol "${chosen}", which was not offered` +
          (offered.length ? ` (offered: ${offered.join(", ")})` : " (none offered)") +
          `; add it to --protocol if it is the right one`,
      );
    }
  } else if (offered.length > 0 && !options.allowNoProtocol) {
    throw new WsClientError(
      `${where} accepted none of the offered subprotocols (${offered.join(", ")}); ` +
        "check --protocol, or pass --allow-no-protocol to continue without one",
    );
  }
}
