/**
 * Where a Redis is, as vncws's options name it: websockify's TokenRedis
 * source `host[:port[:db[:password[:namespace]]]]` ({@linkcode parseRedisSource})
 * or a `redis://`/`rediss://` URL ({@linkcode redisEndpoint} takes both).
 * Parsing only, so the command line can check an option without loading
 * a Redis client (`redis_client.ts` makes those).
 * @module
 */

/** A parsed TokenRedis-style source. */
export interface RedisSource {
  /** Redis host name or address. */
  host: string;
  /** Redis port (default 6379). */
  port: number;
  /** Database number (default 0). */
  db: number;
  /** Password for `AUTH`, when set. */
  password?: string;
  /** Key prefix put before every token. */
  namespace?: string;
}

/** Splits on `:` except inside double-quoted fields; quotes are removed. */
function splitFields(src: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field: string;
    if (src[i] === '"') {
      const end = src.indexOf('"', i + 1);
      if (end < 0) throw new Error("unterminated double quote");
      field = src.slice(i + 1, end);
      i = end + 1;
      if (i < src.length && src[i] !== ":") throw new Error("text after a closing quote");
    } else {
      const end = src.indexOf(":", i);
      field = src.slice(i, end < 0 ? src.length : end);
      i = end < 0 ? src.length : end;
    }
    fields.push(field);
    if (i >= src.length) return fields;
    i++; // the colon
  }
}

/** Parses `host[:port[:db[:password[:namespace]]]]`; throws naming the expected format. */
export function parseRedisSource(src: string, what = "TokenRedis source"): RedisSource {
  const usage = `${what} "${src}" must look like host[:port[:db[:password[:namespace]]]]`;
  let fields: string[];
  try {
    fields = splitFields(src);
  } catch (e) {
    throw new Error(`${usage}: ${(e as Error).message}`);
  }
  const [host, port = "", db = "", password = "", namespace = ""] = fields;
  if (fields.length > 5 || !host) throw new Error(usage);
  if (port !== "" && !/^\d{1,5}$/.test(port)) throw new Error(`${usage}: bad port "${port}"`);
  if (db !== "" && !/^\d+$/.test(db)) throw new Error(`${usage}: bad db "${db}"`);
  return {
    host,
    port: port === "" ? 6379 : Number(port),
    db: db === "" ? 0 : Number(db),
    password: password === "" ? undefined : password,
    namespace: namespace === "" ? undefined : namespace,
  };
}

/** A Redis to connect to: a URL for the client, and a name for log lines (no password). */
export interface RedisEndpoint {
  /** `redis://[:password@]host:port/db` (or `rediss://` as given). */
  url: string;
  /** `host:port`, safe to log. */
  name: string;
}

/**
 * Parses `host[:port[:db[:password]]]` or a `redis://`/`rediss://` URL
 * (`option` names the option in the error); a namespace is refused (keys
 * have a fixed prefix). Throws saying what is expected, without quoting
 * `src` (it may hold a password).
 */
export function redisEndpoint(src: string, option: string): RedisEndpoint {
  if (/^rediss?:\/\//i.test(src)) {
    let u: URL;
    try {
      u = new URL(src);
    } catch {
      throw new Error(`${option} is not a valid redis:// URL`);
    }
    if (!u.hostname) throw new Error(`${option} names no host`);
    if (u.pathname !== "" && u.pathname !== "/" && !/^\/\d+$/.test(u.pathname)) {
      throw new Error(`${option}: the URL's path must be a database number, e.g. /0`);
    }
    return { url: src, name: `${u.hostname}:${u.port || 6379}` };
  }
  let s: RedisSource;
  try {
    s = parseRedisSource(src, option);
  } catch (e) {
    throw new Error((e as Error).message.replace(` "${src}"`, ""));
  }
  if (s.namespace !== undefined) {
    throw new Error(`${option} must look like host[:port[:db[:password]]] (no namespace)`);
  }
  const auth = s.password === undefined ? "" : `:${encodeURIComponent(s.password)}@`;
  const host = s.host.includes(":") ? `[${s.host}]` : s.host;
  return { url: `redis://${auth}${host}:${s.port}/${s.db}`, name: `${s.host}:${s.port}` };
}

/**
 * The replies of a MULTI … EXEC; throws the first command's error (EXEC
 * itself succeeds when a queued command fails).
 */
export function checked(replies: [Error | null, unknown][] | null): unknown[] {
  if (!replies) throw new Error("Redis discarded the transaction");
  for (const [error] of replies) if (error) throw error;
  return replies.map(([, value]) => value);
}

/**
 * The commands vncws queues in one Redis transaction or pipeline (what
 * ioredis's `multi()` and `pipeline()` return; a test can fake it).
 */
export interface RedisBatch {
  /** DEL. */
  del(key: string): unknown;
  /** HSET of one field, or of many from an object. */
  hset(key: string, field: string, value: string): unknown;
  /** HSET of many fields. */
  hset(key: string, fields: Record<string, string>): unknown;
  /** HDEL. */
  hdel(key: string, field: string): unknown;
  /** HVALS. */
  hvals(key: string): unknown;
  /** PEXPIRE. */
  pexpire(key: string, ms: number): unknown;
  /** ZADD of one member. */
  zadd(key: string, score: number, member: string): unknown;
  /** ZREM of one member. */
  zrem(key: string, member: string): unknown;
  /** EVAL. */
  eval(script: string, keys: number, ...args: (string | number)[]): unknown;
  /** Sends the batch: each command's error or reply, or null when discarded. */
  exec(): Promise<[Error | null, unknown][] | null>;
}

/** The Redis commands vncws sends on their own (an ioredis client fits). */
export interface RedisCommands {
  /** A MULTI … EXEC transaction. */
  multi(): RedisBatch;
  /** A pipeline (no transaction). */
  pipeline(): RedisBatch;
  /** EVAL. */
  eval(script: string, keys: number, ...args: (string | number)[]): Promise<unknown>;
  /** ZREMRANGEBYSCORE. */
  zremrangebyscore(key: string, min: string | number, max: string | number): Promise<unknown>;
  /** ZRANGE by index. */
  zrange(key: string, start: string, stop: string): Promise<string[]>;
  /** PUBLISH: resolves how many subscribers heard it. */
  publish(channel: string, message: string): Promise<number>;
}
