/**
 * The fleet's shared session slots (`--state-redis`) in Redis: the
 * {@linkcode SlotStore} behind src/auth/fleet_limits.ts.
 *
 * Each counted thing (`ip:<address>`, `token:<hash>`; never a token) is a
 * sorted set `vncws:state:slots:<thing>` of members (one per admitted
 * session, `<replica>#<n>`) scored by when they expire, in Redis's clock so
 * replicas' clocks do not matter. Admission is one Lua script: drop expired
 * members, refuse when a set is full, else add the member to every set.
 * Redis runs a script without interleaving anything, so two replicas
 * cannot both take the last slot; MULTI could not decide on what it read
 * (WATCH and retry would, at a round trip per try). The replica renews its
 * members every TTL/3 ({@linkcode RedisSlotStore.appendRenewal}, in the
 * fleet's one transaction per tick), so a dead replica's slots expire
 * within the TTL. Slots admitted while Redis was away are added at the
 * next renewal after it is back, and slots freed then are removed then.
 * @module
 */
import type { RedisBatch, RedisCommands } from "../net/redis.ts";
import type { SlotClaim, SlotStore } from "./fleet_limits.ts";

const PREFIX = "vncws:state:slots:";

/** Redis's clock in ms, inside a script (TIME before writes is fine since Redis 5). */
const NOW = "local t = redis.call('TIME')\n" +
  "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

/** KEYS: the sets; ARGV: ttl ms, member, then each set's max. Returns -1 or the full set's index. */
const TAKE = NOW + `local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= tonumber(ARGV[i + 2]) then return i - 1 end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + ttl, ARGV[2])
  redis.call('PEXPIRE', key, ttl)
end
return -1`;

/** KEYS: one set per member; ARGV: ttl ms, then the members. Adds or renews each. */
const RENEW = NOW + `local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + ttl, ARGV[i + 1])
  redis.call('PEXPIRE', key, ttl)
end
return 0`;

/** How the store learns whether Redis answers (src/app/fleet.ts keeps that, and logs it). */
export interface RedisHealth {
  /** True while Redis is believed to answer. */
  readonly up: boolean;
  /** A command failed: Redis may be away. */
  failed(e: unknown): void;
}

/** The slots this replica holds (and frees) in Redis; see the module doc. */
export class RedisSlotStore implements SlotStore {
  readonly #client: RedisCommands;
  readonly #health: RedisHealth;
  readonly #replica: string;
  readonly #ttlMs: number;
  #seq = 0;
  /** Members held now, with their keys: renewed every tick. */
  readonly #held = new Map<string, string[]>();
  /** Members freed while Redis did not answer: removed at the next renewal. */
  #freed: Array<[string, string]> = [];

  /** A store over `client` for replica `replica`, slots living `ttlMs` unless renewed. */
  constructor(client: RedisCommands, health: RedisHealth, replica: string, ttlMs: number) {
    this.#client = client;
    this.#health = health;
    this.#replica = replica;
    this.#ttlMs = ttlMs;
  }

  /** See {@linkcode SlotStore.up}. */
  get up(): boolean {
    return this.#health.up;
  }

  /** See {@linkcode SlotStore.member}. */
  member(): string {
    return `${this.#replica}#${++this.#seq}`;
  }

  /** See {@linkcode SlotStore.take}. */
  async take(claims: SlotClaim[], member: string): Promise<number> {
    const keys = claims.map((c) => PREFIX + c.key);
    let full: unknown;
    try {
      full = await this.#client.eval(
        TAKE,
        keys.length,
        ...keys,
        this.#ttlMs,
        member,
        ...claims.map((c) => c.max),
      );
    } catch (e) {
      this.#health.failed(e);
      throw e;
    }
    return Number(full);
  }

  /** See {@linkcode SlotStore.keep}. */
  keep(keys: string[], member: string): void {
    this.#held.set(member, keys);
  }

  /** See {@linkcode SlotStore.give}. */
  give(keys: string[], member: string): void {
    this.#held.delete(member);
    const pairs = keys.map((k): [string, string] => [PREFIX + k, member]);
    if (!this.#health.up) {
      this.#freed.push(...pairs);
      return;
    }
    const tx = this.#client.multi();
    for (const [key, m] of pairs) tx.zrem(key, m);
    tx.exec().catch((e) => {
      this.#freed.push(...pairs);
      this.#health.failed(e);
    });
  }

  /** Slots held now (tests, and the count in the "Redis is back" line). */
  get size(): number {
    return this.#held.size;
  }

  /**
   * Adds this tick's renewal to `tx`: every held slot renewed (or added
   * again, after an outage), every slot freed while Redis was away removed.
   * Call the returned function with the transaction's outcome.
   */
  appendRenewal(tx: RedisBatch): (ok: boolean) => void {
    const freed = this.#freed;
    this.#freed = [];
    for (const [key, m] of freed) tx.zrem(key, m);
    const keys: string[] = [];
    const members: string[] = [];
    for (const [member, ks] of this.#held) {
      for (const k of ks) {
        keys.push(PREFIX + k);
        members.push(member);
      }
    }
    if (keys.length > 0) tx.eval(RENEW, keys.length, ...keys, this.#ttlMs, ...members);
    return (ok) => {
      if (!ok) this.#freed.push(...freed);
    };
  }
}
