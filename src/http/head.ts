/**
 * HTTP/1.1 request-head parser with limits. It parses only the head (request
 * line + headers); vncws never reads request bodies.
 * @module
 */

/** A parsed request head. Header names are lower-cased; repeated headers are joined with ", ". */
export interface RequestHead {
  /** The request method (`GET`, `HEAD`...). */
  method: string;
  /** The request target as sent (path and query), e.g. `/websockify?token=a`. */
  target: string;
  /** Path part of the target, percent-decoding not applied. */
  path: string;
  /** Query parameters of the target. */
  query: URLSearchParams;
  /** `HTTP/1.1` or `HTTP/1.0`. */
  version: string;
  /** Headers by lower-cased name. */
  headers: Map<string, string>;
  /** Header count (lines), for limits. */
  headerCount: number;
}

/** A request the parser refuses, with the HTTP status to answer. */
export class HttpError extends Error {
  /** The HTTP status to answer. */
  readonly status: number;
  /** Extra response headers (`Allow`, `Sec-WebSocket-Version`). */
  readonly headers: Record<string, string>;
  /** A refusal with `status`, the reason `message` and extra response `headers`. */
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

/** Limits for {@linkcode parseRequestHead}. */
export interface HeadLimits {
  /** `--max-head-size`: bytes. */
  maxHeadBytes: number;
  /** Max header lines. */
  maxHeaders: number;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Controls (bare CR, ESC, DEL...) are invalid in targets and field values
// (RFC 9112 §2.2, RFC 9110 §5.5) and would reach log lines raw.
// deno-lint-ignore no-control-regex
const TARGET_BAD = /[\x00-\x20\x7f]/;
// deno-lint-ignore no-control-regex
const VALUE_BAD = /[\x00-\x08\x0a-\x1f\x7f]/;
const decoder = new TextDecoder("latin1");

/**
 * Finds the end of the head (`\r\n\r\n`, or `\n\n` leniently) in `buf`.
 * Returns the index just past it, or -1 when the head is not complete yet.
 */
export function findHeadEnd(buf: Uint8Array, from = 0): number {
  for (let i = Math.max(0, from - 3); i < buf.length - 1; i++) {
    if (buf[i] !== 10) continue;
    if (buf[i + 1] === 10) return i + 2;
    if (buf[i + 1] === 13 && buf[i + 2] === 10) return i + 3;
  }
  return -1;
}

/** Parses a complete head (bytes up to and including the blank line). Throws {@linkcode HttpError}. */
export function parseRequestHead(bytes: Uint8Array, limits: HeadLimits): RequestHead {
  if (bytes.length > limits.maxHeadBytes) {
    throw new HttpError(431, `request head larger than ${limits.maxHeadBytes} bytes`);
  }
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0) throw new HttpError(400, "NUL byte in request head");
  }
  const lines = decoder.decode(bytes).split("\n").map((l) => l.endsWith("\r") ? l.slice(0, -1) : l);
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const requestLine = lines.shift() ?? "";
  const parts = requestLine.split(" ");
  if (parts.length !== 3 || !TOKEN.test(parts[0]) || parts[1] === "") {
    // The request target may hold a token: name only the first word, shortened.
    throw new HttpError(
      400,
      `malformed request line (it starts with ${JSON.stringify(requestLine.slice(0, 16))})`,
    );
  }
  const [method, target, version] = parts;
  if (TARGET_BAD.test(target)) {
    throw new HttpError(400, "request target contains a control character or whitespace");
  }
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
    throw new HttpError(505, `unsupported HTTP version ${JSON.stringify(version.slice(0, 20))}`);
  }
  if (lines.length > limits.maxHeaders) {
    throw new HttpError(431, `more than ${limits.maxHeaders} header lines`);
  }
  const headers = new Map<string, string>();
  for (const line of lines) {
    if (line.startsWith(" ") || line.startsWith("\t")) {
      // obs-fold is deprecated (RFC 7230 §3.2.4) and a smuggling vector: refuse it.
      throw new HttpError(400, "obsolete header line folding is not accepted");
    }
    const colon = line.indexOf(":");
    if (colon <= 0) {
      // A header value may be a secret (Authorization, Cookie): name none of it.
      throw new HttpError(400, "malformed header line: no colon after a header name");
    }
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) {
      throw new HttpError(400, `malformed header name: ${JSON.stringify(name.slice(0, 40))}`);
    }
    const value = line.slice(colon + 1).trim();
    if (VALUE_BAD.test(value)) {
      throw new HttpError(400, `control character in the ${name} header`);
    }
    const key = name.toLowerCase();
    const prev = headers.get(key);
    if (
      prev !== undefined &&
      (key === "host" || key === "content-length" || key === "sec-websocket-key")
    ) {
      throw new HttpError(400, `duplicate ${name} header`);
    }
    headers.set(key, prev === undefined ? value : `${prev}, ${value}`);
  }
  const q = target.indexOf("?");
  const path = q < 0 ? target : target.slice(0, q);
  let query: URLSearchParams;
  try {
    query = new URLSearchParams(q < 0 ? "" : target.slice(q + 1));
  } catch {
    throw new HttpError(400, "malformed query string");
  }
  return { method, target, path, query, version, headers, headerCount: lines.length };
}
