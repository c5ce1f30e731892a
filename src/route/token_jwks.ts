/**
 * A remote JSON Web Key Set for `JWTTokenApi`, when `--token-source` is an
 * `https://` URL (`http://` only to a loopback address, where no one on the
 * way can swap the keys). Tokens are verified with the public key whose
 * `kid` (and `alg`) the token header names, selected by jose's
 * `createLocalJWKSet`.
 *
 * Fetching: `fetch` with the token timeout (`--token-source` APIs share it,
 * default 5 s) for the whole answer, at most 1 MiB, status 200 only
 * (redirects are not followed). The fetch rate is bounded whatever clients
 * send:
 * - one fetch at a time: concurrent lookups share it;
 * - a token whose `kid` is not in the set fetches the set again only when the
 *   last fetch is at least {@linkcode JWKS_COOLDOWN} seconds (30) old; before
 *   that the token is refused (404);
 * - after a failed fetch the next try waits {@linkcode JWKS_RETRY} seconds (5);
 * - a set older than {@linkcode JWKS_MAX_AGE} seconds (600) is fetched again
 *   on the next lookup; if that fails, the old set stays in use.
 *
 * A failed fetch at start is a warning, not a refusal to start (an identity
 * provider may be down for a moment): lookups fetch on demand and answer 503
 * (a {@linkcode TokenBackendError}) while no set has been fetched.
 *
 * jose's own `createRemoteJWKSet` is not used: after a failed fetch it fetches
 * again on every lookup, and a stale set it cannot refresh fails every token.
 * @module
 */
import { createLocalJWKSet, errors, type JWSHeaderParameters } from "jose";
import { logInfo, logWarn } from "../base/log.ts";
import { parseIp } from "../net/ip.ts";
import { readLimited, TokenBackendError } from "./resolver.ts";

/** Seconds after a fetch before an unknown `kid` may fetch the set again. */
export const JWKS_COOLDOWN = 30;
/** Seconds after a failed fetch before the next try. */
export const JWKS_RETRY = 5;
/** Seconds a fetched set is used before it is fetched again. */
export const JWKS_MAX_AGE = 600;
/** Largest key set answer read (a set holds a few keys of a few KiB). */
const MAX_JWKS_BYTES = 1024 * 1024;

/** Options for {@linkcode RemoteKeySet}. */
export interface JwksOptions {
  /** Seconds for one fetch, answer included (default 5). */
  timeout?: number;
  /** Seconds, see {@linkcode JWKS_COOLDOWN}. */
  cooldown?: number;
  /** Seconds, see {@linkcode JWKS_RETRY}. */
  retry?: number;
  /** Seconds, see {@linkcode JWKS_MAX_AGE}. */
  maxAge?: number;
  /** A monotonic clock in milliseconds (tests step it; default `performance.now`). */
  now?: () => number;
}

function isLoopback(hostname: string): boolean {
  if (hostname.toLowerCase() === "localhost") return true;
  const ip = parseIp(hostname);
  if (!ip) return false;
  return ip.length === 4 ? ip[0] === 127 : ip.every((b, i) => b === (i === 15 ? 1 : 0));
}

/**
 * The key set URL when `source` is one (`http://` or `https://`), else
 * undefined (a key file). Throws when it is an unusable URL, or plain
 * `http://` to anywhere but loopback.
 */
export function jwksUrl(source: string): URL | undefined {
  if (!/^https?:\/\//i.test(source)) return undefined;
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    throw new Error(`JWKS URL "${source}" is not a URL (example: https://idp.example/jwks.json)`);
  }
  if (url.protocol === "http:" && !isLoopback(url.hostname)) {
    throw new Error(
      `JWKS URL ${url.origin} uses plain http to a non-loopback host, where the keys could be ` +
        "swapped on the way: use https://",
    );
  }
  return url;
}

/** The token header fields that choose a key from a set. */
export interface KeyHeader {
  /** The signature algorithm (`ES256`, `RS256`…). */
  alg?: string;
  /** The key id. */
  kid?: string;
}

/** A remote key set, fetched at a bounded rate; {@linkcode RemoteKeySet.getKey} gives jose the key. */
export class RemoteKeySet {
  /** The key set's URL. */
  readonly url: URL;
  readonly #timeoutMs: number;
  readonly #cooldownMs: number;
  readonly #retryMs: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  #local?: ReturnType<typeof createLocalJWKSet>;
  #fetchedAt = -Infinity;
  #triedAt = -Infinity;
  #failed = false;
  #lastError = "not fetched yet";
  #inflight?: Promise<boolean>;
  /** The first fetch: true when it got a set (a failure was logged as a warning). */
  readonly ready: Promise<boolean>;

  /** Starts the first fetch at once; a failure is logged, lookups try again. */
  constructor(url: URL, options: JwksOptions = {}) {
    this.url = url;
    this.#timeoutMs = (options.timeout ?? 5) * 1000;
    this.#cooldownMs = (options.cooldown ?? JWKS_COOLDOWN) * 1000;
    this.#retryMs = (options.retry ?? JWKS_RETRY) * 1000;
    this.#maxAgeMs = (options.maxAge ?? JWKS_MAX_AGE) * 1000;
    this.#now = options.now ?? (() => performance.now());
    this.ready = this.#fetchShared();
  }

  /** Where logs name the set: the URL without its query, which may hold a credential. */
  get #where(): string {
    return `${this.url.origin}${this.url.pathname}`;
  }

  /**
   * The set's key for a token header's `kid` and `alg` (jose's key getter).
   * Rejects with {@linkcode TokenBackendError} while no set has been fetched.
   */
  async getKey(header: KeyHeader): Promise<CryptoKey> {
    if (!this.#local || this.#now() - this.#fetchedAt >= this.#maxAgeMs) await this.#maybeFetch();
    if (!this.#local) {
      throw new TokenBackendError(`JWKS ${this.#where} unavailable: ${this.#lastError}`);
    }
    // An unknown kid may be a key the provider has just added: fetch again, rate allowing.
    const key = await this.#select(header) ??
      (await this.#maybeFetch() ? await this.#select(header) : undefined);
    if (!key) throw new Error(`no key in the JWKS matches kid ${JSON.stringify(header.kid)}`);
    return key;
  }

  /** The matching key from the current set; undefined when none matches. */
  async #select(header: KeyHeader): Promise<CryptoKey | undefined> {
    try {
      return await this.#local!(header as JWSHeaderParameters);
    } catch (e) {
      if (e instanceof errors.JWKSNoMatchingKey) return undefined;
      throw e;
    }
  }

  /** A fetch when one is running or the rate allows one; resolves whether it got a set. */
  #maybeFetch(): Promise<boolean> {
    if (this.#inflight) return this.#inflight;
    const wait = this.#failed ? this.#retryMs : this.#cooldownMs;
    if (this.#now() - this.#triedAt < wait) return Promise.resolve(false);
    return this.#fetchShared();
  }

  #fetchShared(): Promise<boolean> {
    this.#inflight ??= this.#fetch().finally(() => this.#inflight = undefined);
    return this.#inflight;
  }

  async #fetch(): Promise<boolean> {
    this.#triedAt = this.#now();
    try {
      const json = await this.#download();
      this.#local = createLocalJWKSet(json as Parameters<typeof createLocalJWKSet>[0]);
      this.#fetchedAt = this.#now();
      this.#failed = false;
      logInfo("JWKS fetched", { url: this.#where, keys: this.#local.jwks().keys.length });
      return true;
    } catch (e) {
      this.#failed = true;
      this.#lastError = (e as Error).message;
      logWarn("JWKS fetch failed; tokens are checked against the last set fetched, if any", {
        url: this.#where,
        reason: this.#lastError,
        retryAfter: this.#retryMs / 1000,
      });
      return false;
    }
  }

  async #download(): Promise<unknown> {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    try {
      const res = await fetch(this.url, {
        signal,
        redirect: "manual",
        headers: { accept: "application/jwk-set+json, application/json" },
      });
      if (res.status !== 200) {
        await res.body?.cancel();
        const moved = res.status >= 300 && res.status < 400
          ? " (redirects are not followed: give the final URL)"
          : "";
        throw new Error(`answered status ${res.status}${moved}`);
      }
      const text = await readLimited(res, MAX_JWKS_BYTES);
      try {
        return JSON.parse(text);
      } catch {
        throw new Error("the answer is not JSON");
      }
    } catch (e) {
      if (signal.aborted) throw new Error(`no answer within ${this.#timeoutMs / 1000} s`);
      throw e;
    }
  }
}
