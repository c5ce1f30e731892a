/**
 * websockify's `BaseTokenAPI` and `JSONTokenApi`: an HTTP GET to a URL in
 * which `%s` is replaced by the percent-encoded token.
 *
 * - `BaseTokenAPI`: status < 400 → the body is the target (`host:port`,
 *   `[v6]:port`, `v6:port`, `unix_socket:/path`).
 * - `JSONTokenApi`: status < 400 → the body is JSON `{"host": ..., "port": ...}`
 *   (`"host": "unix_socket"` with a path as port is a unix socket target),
 *   with the token's settings as further fields (`"view_only": true`,
 *   `"password": "..."`; `target_settings.ts`). Other fields are ignored, as
 *   websockify does, except a misspelt setting, which makes the answer unusable.
 *
 * Status 400–499 means "unknown token" (the session answers 404). A status
 * ≥ 500, an unreachable backend, a timeout or an unusable body is a
 * {@linkcode TokenBackendError} (the session answers 503).
 *
 * Answers (found and not found) are cached for a short TTL, so a viewer that
 * reconnects or a page that opens several connections costs one request;
 * backend failures are not cached. Concurrent lookups of one token share one
 * request.
 * @module
 */
import type { Target } from "../net/address.ts";
import { logWarn } from "../base/log.ts";
import {
  parseTokenTarget,
  readLimited,
  TARGET_FIELDS,
  targetFromParts,
  type TokenAnswer,
  TokenBackendError,
  tokenHash,
  type TokenResolver,
} from "./resolver.ts";
import { settingsFromObject } from "./target_settings.ts";

/** Options for {@linkcode BaseTokenAPI} and {@linkcode JSONTokenApi}. */
export interface TokenApiOptions {
  /** Seconds to wait for the whole answer (default 5). */
  timeout?: number;
  /** Seconds an answer stays cached (default 5; 0 = no cache). */
  cacheTtl?: number;
  /** Max cached tokens (default 10000); the oldest entries go first. */
  cacheSize?: number;
}

/** Largest answer body read; a target is a few dozen bytes. */
const MAX_BODY = 64 * 1024;

/** `BaseTokenAPI`: GET `source` with `%s` → token; the body is `host:port`. */
export class BaseTokenAPI implements TokenResolver {
  /** The API URL; `%s` is replaced by the token. */
  readonly source: string;
  /** Backend requests made (tests check the cache). */
  requestCount = 0;
  readonly #timeoutMs: number;
  readonly #ttlMs: number;
  readonly #cacheSize: number;
  #cache = new Map<string, { expires: number; answer: TokenAnswer | null }>();
  #inflight = new Map<string, Promise<TokenAnswer | null>>();

  /** Throws when `source` is not an http(s) URL. */
  constructor(source: string, options: TokenApiOptions = {}) {
    let url: URL;
    try {
      url = new URL(source.replaceAll("%s", "x"));
    } catch {
      throw new Error(
        `token API source "${source}" is not a URL (example: http://127.0.0.1:8000/token/%s)`,
      );
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new Error(`token API source "${source}" must be an http:// or https:// URL`);
    }
    if (!source.includes("%s")) {
      logWarn("token API source has no %s: every token gets the same URL", { source });
    }
    this.source = source;
    this.#timeoutMs = (options.timeout ?? 5) * 1000;
    this.#ttlMs = (options.cacheTtl ?? 5) * 1000;
    this.#cacheSize = options.cacheSize ?? 10000;
  }

  /** Resolves a token through the cache, then the backend. */
  async lookup(token: string): Promise<Target | null> {
    return (await this.lookupDetail(token))?.target ?? null;
  }

  /** {@linkcode BaseTokenAPI.lookup} with the answer's settings (JSON fields). */
  lookupDetail(token: string): Promise<TokenAnswer | null> {
    const now = Date.now();
    const hit = this.#cache.get(token);
    if (hit && hit.expires > now) return Promise.resolve(hit.answer);
    if (hit) this.#cache.delete(token);
    let pending = this.#inflight.get(token);
    if (!pending) {
      pending = this.#fetch(token).then((answer) => {
        this.#remember(token, answer);
        return answer;
      }).finally(() => this.#inflight.delete(token));
      this.#inflight.set(token, pending);
    }
    return pending;
  }

  #remember(token: string, answer: TokenAnswer | null): void {
    if (this.#ttlMs <= 0) return;
    if (this.#cache.size >= this.#cacheSize) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(token, { expires: Date.now() + this.#ttlMs, answer });
  }

  async #fetch(token: string): Promise<TokenAnswer | null> {
    const url = this.source.replaceAll("%s", encodeURIComponent(token));
    this.requestCount++;
    const signal = AbortSignal.timeout(this.#timeoutMs);
    let status: number;
    let body: string;
    try {
      const res = await fetch(url, { signal, redirect: "follow" });
      status = res.status;
      body = await readLimited(res, MAX_BODY);
    } catch (e) {
      const reason = signal.aborted
        ? `no answer within ${this.#timeoutMs / 1000} s`
        : (e as Error).message;
      throw new TokenBackendError(`token API unreachable: ${reason}`, { cause: e });
    }
    if (status >= 500) throw new TokenBackendError(`token API answered status ${status}`);
    if (status >= 400) return null;
    try {
      return this.parseBody(body);
    } catch (e) {
      logWarn("token API answer holds no valid target or settings", {
        token: tokenHash(token),
        reason: (e as Error).message,
      });
      throw new TokenBackendError(`token API answer unusable: ${(e as Error).message}`);
    }
  }

  /** Turns a successful answer's body into a target; throws when it holds none. */
  protected parseBody(body: string): TokenAnswer {
    return { target: parseTokenTarget(body) };
  }

  /** Drops the cache. */
  close(): Promise<void> {
    this.#cache.clear();
    return Promise.resolve();
  }
}

/** `JSONTokenApi`: like {@linkcode BaseTokenAPI}, the body is JSON `{host, port, ...settings}`. */
export class JSONTokenApi extends BaseTokenAPI {
  /** Parses `{"host": "h", "port": 5900, "view_only": true}` (port may be a string). */
  protected override parseBody(body: string): TokenAnswer {
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch {
      throw new Error("body is not JSON");
    }
    if (typeof value !== "object" || value === null) throw new Error("body is not a JSON object");
    const fields = value as Record<string, unknown>;
    const target = targetFromParts(fields.host, fields.port);
    const settings = settingsFromObject(fields, { own: TARGET_FIELDS, strict: false });
    return settings ? { target, settings } : { target };
  }
}
