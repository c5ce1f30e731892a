/**
 * websockify's `TokenRedis`: the target is the value of a Redis key.
 *
 * Source: `host[:port[:db[:password[:namespace]]]]`; empty fields take the
 * defaults (port 6379, db 0, no password, no namespace); a field wrapped in
 * double quotes may contain `:` (`redis.local::::"app:vnc"`).
 * Key: `namespace:token`, or just the token without a namespace.
 * Value: JSON `{"host": "h:p"}` (also `{"host": "h", "port": p}`), with the
 * token's settings as further fields (`"view_only": true`;
 * `target_settings.ts`), or plain `h:p` (`[v6]:p`, `v6:p`,
 * `unix_socket:/path` work too). Other JSON fields are ignored, except a
 * misspelt setting or a bad value: the token then does not resolve.
 *
 * One client is shared by all lookups (websockify opens one per lookup). It
 * connects at the first lookup; an unreachable server, a timeout or a Redis
 * error is a {@linkcode TokenBackendError} (the session answers 503).
 * @module
 */
import { Redis } from "ioredis";
import type { Target } from "../net/address.ts";
import { logWarn } from "../base/log.ts";
import { parseRedisSource, type RedisSource } from "../net/redis.ts";
import {
  parseTokenTarget,
  TARGET_FIELDS,
  targetFromParts,
  type TokenAnswer,
  TokenBackendError,
  tokenHash,
  type TokenResolver,
} from "./resolver.ts";
import { settingsFromObject } from "./target_settings.ts";

export { parseRedisSource, type RedisSource };

/** Options for {@linkcode TokenRedis}. */
export interface TokenRedisOptions {
  /** Seconds allowed for connecting and for each lookup (default 5). */
  timeout?: number;
}

/** Parses a Redis value (JSON or plain) into a target and settings; throws when it holds none. */
export function parseRedisValue(value: string): TokenAnswer {
  const v = value.trim();
  if (!v.startsWith("{")) return { target: parseTokenTarget(v) };
  let obj: unknown;
  try {
    obj = JSON.parse(v);
  } catch {
    throw new Error("value starts with { but is not JSON");
  }
  const fields = (obj ?? {}) as Record<string, unknown>;
  const { host, port } = fields;
  if (typeof host !== "string") throw new Error('JSON value has no "host" string');
  const target = port === undefined ? parseTokenTarget(host) : targetFromParts(host, port);
  const settings = settingsFromObject(fields, { own: TARGET_FIELDS, strict: false });
  return settings ? { target, settings } : { target };
}

/** Token → Redis key → target, over one shared client. */
export class TokenRedis implements TokenResolver {
  /** The parsed `--token-source`. */
  readonly source: RedisSource;
  readonly #timeoutMs: number;
  #client: Redis | undefined;

  /** Parses the source now; connects at the first lookup. */
  constructor(source: string, options: TokenRedisOptions = {}) {
    this.source = parseRedisSource(source);
    this.#timeoutMs = (options.timeout ?? 5) * 1000;
  }

  #connect(): Redis {
    if (this.#client) return this.#client;
    const client = new Redis({
      host: this.source.host,
      port: this.source.port,
      db: this.source.db,
      password: this.source.password,
      lazyConnect: true,
      connectTimeout: this.#timeoutMs,
      // Fail a command at once while disconnected (503) instead of queueing it.
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      // Keep reconnecting in the background, at most once a second.
      retryStrategy: (times: number) => Math.min(times * 100, 1000),
    });
    // Without a listener, ioredis reports every failed reconnect as an unhandled error.
    let warned = false;
    client.on("error", (e: Error) => {
      if (!warned) logWarn("redis token backend error", { reason: e.message });
      warned = true;
    });
    client.on("ready", () => warned = false);
    this.#client = client;
    return client;
  }

  /** Reads the key; `null` when it does not exist or holds no valid target or settings. */
  async lookup(token: string): Promise<Target | null> {
    return (await this.lookupDetail(token))?.target ?? null;
  }

  /** {@linkcode TokenRedis.lookup} with the value's settings (JSON fields). */
  async lookupDetail(token: string): Promise<TokenAnswer | null> {
    const client = this.#connect();
    const key = this.source.namespace ? `${this.source.namespace}:${token}` : token;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onReady: (() => void) | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${this.#timeoutMs / 1000} s`)),
        this.#timeoutMs,
      );
    });
    let value: string | null;
    try {
      if (client.status === "wait") await Promise.race([client.connect(), timeout]);
      else if (client.status !== "ready") {
        // Reconnecting in the background: wait for it, bounded by the timeout.
        await Promise.race([
          new Promise<void>((resolve) => client.once("ready", onReady = resolve)),
          timeout,
        ]);
      }
      value = await Promise.race([client.get(key), timeout]);
    } catch (e) {
      throw new TokenBackendError(
        `redis token backend ${this.source.host}:${this.source.port} failed: ${
          (e as Error).message
        }`,
        { cause: e },
      );
    } finally {
      clearTimeout(timer);
      if (onReady) client.off("ready", onReady);
    }
    if (value === null) return null;
    try {
      return parseRedisValue(value);
    } catch (e) {
      logWarn("redis value holds no valid target or settings", {
        token: tokenHash(token),
        reason: (e as Error).message,
      });
      return null;
    }
  }

  /** Disconnects the shared client. */
  async close(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    if (!client) return;
    try {
      await client.quit();
    } catch {
      client.disconnect();
    }
  }
}
