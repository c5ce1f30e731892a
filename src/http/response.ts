/**
 * Plain HTTP responses: the few that vncws sends (errors, redirects, static
 * files). Every response closes the connection; vncws does not keep plain
 * HTTP connections alive.
 * @module
 */
import type { ByteStream } from "../net/stream.ts";

/** An HTTP response to write. */
export interface HttpResponse {
  /** The status code. */
  status: number;
  /** Headers besides `Server`, `Connection` and `Content-Length`. */
  headers?: Record<string, string>;
  /** Body bytes; omitted for HEAD by {@linkcode writeResponse}. */
  body?: Uint8Array | string;
}

const REASONS: Record<number, string> = {
  101: "Switching Protocols",
  200: "OK",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  413: "Content Too Large",
  426: "Upgrade Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/** The reason phrase for a status code. */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? "Unknown";
}

const encoder = new TextEncoder();

/** Serialises a response (head and, unless `headOnly`, body) to bytes. */
export function encodeResponse(res: HttpResponse, headOnly = false): Uint8Array {
  const body = typeof res.body === "string"
    ? encoder.encode(res.body)
    : res.body ?? new Uint8Array();
  const headers: Record<string, string> = {
    "Server": "vncws",
    "Connection": "close",
    ...res.headers,
  };
  if (res.status !== 101 && res.status !== 304 && !("Content-Length" in headers)) {
    headers["Content-Length"] = String(body.length);
  }
  let head = `HTTP/1.1 ${res.status} ${reasonPhrase(res.status)}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  head += "\r\n";
  const h = encoder.encode(head);
  if (headOnly || body.length === 0) return h;
  const out = new Uint8Array(h.length + body.length);
  out.set(h);
  out.set(body, h.length);
  return out;
}

/** A short plain-text error response: the reason is the body, so curl users see it. */
export function textResponse(
  status: number,
  reason: string,
  headers: Record<string, string> = {},
): HttpResponse {
  return {
    status,
    headers: { "Content-Type": "text/plain; charset=utf-8", ...headers },
    body: `${status} ${reasonPhrase(status)}: ${reason}\n`,
  };
}

/** Writes a response and ignores a peer that has gone away meanwhile. */
export async function writeResponse(
  stream: ByteStream,
  res: HttpResponse,
  options: { headOnly?: boolean } = {},
): Promise<void> {
  try {
    await stream.writeAll(encodeResponse(res, options.headOnly));
  } catch { /* peer gone: nothing to answer */ }
}
