/**
 * What every token backend shares: the {@linkcode TokenResolver} interface,
 * the backend-failure error, token hashing for logs, the parser for the
 * target text that token files, APIs and Redis values hold, and a bounded
 * read of an HTTP answer body (token APIs, JWKS).
 * @module
 */
import { createHash } from "node:crypto";
import { concatBytes } from "../base/bytes.ts";
import { parseHostPort, type Target } from "../net/address.ts";
import type { TargetSettings } from "./target_settings.ts";

/** Maps a token to the target a session connects to. */
export interface TokenResolver {
  /**
   * Resolves a token. Resolves `null` when the token is unknown, invalid or
   * expired (the session answers 404); rejects with {@linkcode TokenBackendError}
   * when the backend cannot answer (the session answers 503).
   */
  lookup(token: string): Promise<Target | null>;
  /**
   * Like `lookup`, and says until when the token is valid (ms since the
   * epoch; a JWT's `exp`: its session is closed then) and what the token's
   * own settings are (`target_settings.ts`). Backends whose tokens carry
   * neither may leave it out.
   */
  lookupDetail?(token: string): Promise<TokenAnswer | null>;
  /** Releases backend resources (connections, timers). */
  close?(): Promise<void>;
}

/** What {@linkcode TokenResolver.lookupDetail} answers for a valid token. */
export interface TokenAnswer {
  /** Where the session connects. */
  target: Target;
  /** When the token stops being valid (ms since the epoch); absent = it does not expire. */
  expiresAt?: number;
  /** The token's own settings (credentials, view-only, clipboard, limits); absent = none. */
  settings?: TargetSettings;
}

/**
 * The token backend (HTTP API, Redis, token file) could not answer. The
 * session answers 503 with {@linkcode TokenBackendError.status}.
 */
export class TokenBackendError extends Error {
  /** The HTTP status to answer: always 503. */
  readonly status = 503;
  /** A backend failure described by `message` (and its `cause`). */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TokenBackendError";
  }
}

/**
 * A short SHA-256 hex prefix of a token for log lines: enough to correlate
 * connections, useless for replaying the token. Never log raw tokens.
 */
export function tokenHash(token: string): string {
  return createHash("sha256").update(token).digest("hex").slice(0, 12);
}

/** The JSON fields and JWT claims that name the target ({@linkcode targetFromParts}). */
export const TARGET_FIELDS: readonly string[] = ["host", "port"];

/**
 * Builds a target from a separate host and port, as the JSON API, JWT claims
 * and Redis values carry them. Host `unix_socket` means "port is a socket
 * path" (websockify's convention). Throws a message naming what is wrong,
 * never the values (an answer's fields may hold a password).
 */
export function targetFromParts(host: unknown, port: unknown): Target {
  if (typeof host !== "string" || host === "") {
    throw new Error(`host is ${host === "" ? "empty" : `a ${kindOf(host)}`}, not a host name`);
  }
  if (host === "unix_socket") {
    if (typeof port !== "string" || port === "") {
      throw new Error("unix_socket target needs the socket path as its port");
    }
    return { kind: "unix", path: port };
  }
  const portText = typeof port === "number" ? String(port) : port;
  if (typeof portText !== "string") throw new Error(`port is a ${kindOf(port)}, not a number`);
  return parseTokenTarget(`${host.includes(":") ? `[${host}]` : host}:${portText}`);
}

/** A value's JSON kind for an error message, never the value. */
function kindOf(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "list" : typeof value;
}

/**
 * Parses the target text of a token entry: `host:port`, `[v6]:port`,
 * `v6:port` (split on the last colon, as websockify) or
 * `unix_socket:/path/to.sock`. Throws a message naming what is wrong but
 * never repeating the text: a misplaced `password=...` (a token file line
 * with its settings before the target, a Redis value or an API body with
 * settings after it) must not reach the log.
 */
export function parseTokenTarget(text: string): Target {
  const t = text.trim();
  // A space: settings after the target where none are read (a Redis value,
  // an API body), or a line's words in the wrong order. Never echoed.
  if (/\s/.test(t)) {
    throw new Error("token target must be host:port or unix_socket:/path alone, without spaces");
  }
  if (t.startsWith("unix_socket:")) {
    const path = t.slice("unix_socket:".length);
    if (path === "") throw new Error("token target has an empty unix socket path");
    return { kind: "unix", path };
  }
  if (t.includes("=")) {
    throw new Error("token target holds an = (a setting?): it must look like host:port");
  }
  const { hostname, port } = parseHostPort(t, "token target", { echo: false });
  return { kind: "tcp", hostname, port };
}

/**
 * Reads an HTTP answer body as text, refusing one larger than `maxBytes`
 * (a backend that sends without end must not grow memory without end).
 */
export async function readLimited(res: Response, maxBytes: number): Promise<string> {
  if (!res.body) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += chunk.length;
    // Leaving the loop by throwing cancels the body stream.
    if (total > maxBytes) throw new Error(`answer larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return new TextDecoder().decode(concatBytes(chunks));
}
