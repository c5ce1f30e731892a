/**
 * The Redis client the fleet state (`--state-redis`) and `vncws sessions`
 * use, for an endpoint parsed by `redis.ts`.
 * @module
 */
import { Redis } from "ioredis";
import type { RedisCommands, RedisEndpoint } from "./redis.ts";

/** A connected client: the commands, its events, subscribing, and disconnecting. */
export interface RedisClient extends RedisCommands {
  /** ioredis's events: `error`, `close`, `ready`, `message` (a subscriber's). */
  on(event: string, listener: (...args: any[]) => void): unknown;
  /** SUBSCRIBE (the client is a subscriber from then on). */
  subscribe(channel: string): Promise<unknown>;
  /** Closes the connection at once and stops reconnecting. */
  disconnect(): void;
}

/** Options for {@linkcode createRedisClient}. */
export interface RedisClientOptions {
  /** Milliseconds for connecting and for each command. */
  timeoutMs: number;
  /**
   * Queue commands while (re)connecting instead of failing them at once:
   * a subscriber wants that, a client on the request path does not.
   */
  queue?: boolean;
  /** Try once and give up (a command line), instead of reconnecting forever (a server). */
  once?: boolean;
}

/**
 * A client for `endpoint` that connects at once and, unless `once`,
 * reconnects in the background at most every 2 s. Listen for its `error`
 * events: without a listener ioredis reports each failed reconnect as an
 * unhandled error.
 */
export function createRedisClient(
  endpoint: RedisEndpoint,
  options: RedisClientOptions,
): RedisClient {
  return new Redis(endpoint.url, {
    connectTimeout: options.timeoutMs,
    commandTimeout: options.timeoutMs,
    maxRetriesPerRequest: options.queue ? null : 0,
    enableOfflineQueue: options.queue ?? false,
    retryStrategy: options.once ? () => null : (times: number) => Math.min(times * 200, 2000),
  });
}
