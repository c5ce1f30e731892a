/**
 * Brute-force defence: `--ban-after N` failures (a bad or unknown token, a
 * wrong password, a refused Origin or client certificate, a malformed
 * handshake) within `--ban-window` seconds from one client address ban that
 * address for `--ban-time` seconds. A banned address is answered 429 with
 * `Retry-After` before anything else is looked at.
 *
 * Memory is bounded: at most `maxTracked` addresses with recent failures and
 * as many bans are kept; past that the oldest entry is dropped, so a flood
 * from many addresses cannot grow the tables (it can only make the table
 * forget, which costs an attacker the failures already counted).
 *
 * A {@linkcode BanStore} (src/auth/ban_store_redis.ts) shares failures and
 * bans between replicas; without one, each process keeps its own.
 * @module
 */
import { logDebug, logInfo } from "../base/log.ts";
import { parseIp } from "../net/ip.ts";
import { type Refusal, refusal, type RefusalKind } from "./refusal.ts";

/**
 * The refusals that count as a failed attempt: guessing, not load or our own
 * trouble. A refused Origin is not one: any web page can make its visitors'
 * browsers send one (a page could then ban its visitors), and a script that
 * guesses sends no Origin at all. Nor is a missing client certificate
 * (`tls_failed`): a page can make a browser open TLS connections too; a
 * certificate presented and refused (`client_cert`) counts.
 */
export const FAILURE_KINDS: ReadonlySet<RefusalKind> = new Set<RefusalKind>([
  "auth",
  "token_missing",
  "unknown_token",
  "bad_request",
  "client_cert",
]);

/**
 * The key failures and bans are kept under: the address itself, or for
 * IPv6 its /64 (one host usually holds a whole /64, so single addresses
 * would cost an attacker nothing to change).
 */
export function banKey(address: string): string {
  const ip = parseIp(address);
  if (!ip || ip.length !== 16) return address;
  const groups: string[] = [];
  for (let i = 0; i < 8; i += 2) groups.push(((ip[i] << 8) | ip[i + 1]).toString(16));
  return `${groups.join(":")}::/64`;
}

/**
 * Adds a failure of `key` at `now` to its recent ones in `map` (those
 * within `windowMs`) and returns them. The map is ordered least recently
 * failed first and keeps at most `max` keys: past that the oldest is
 * dropped. Shared by a ban list and a `--workers` parent's host-wide count.
 */
export function countFailure(
  map: Map<string, number[]>,
  key: string,
  now: number,
  windowMs: number,
  max: number,
): number[] {
  const times = (map.get(key) ?? []).filter((t) => now - t < windowMs);
  times.push(now);
  map.delete(key); // re-inserted last: the order is least recently failed first
  map.set(key, times);
  if (map.size > max) map.delete(map.keys().next().value!);
  return times;
}

/** Options for {@linkcode BanList}. */
export interface BanOptions {
  /** Failures that start a ban (`--ban-after`, at least 1). */
  after: number;
  /** Seconds within which those failures must fall (`--ban-window`). */
  window: number;
  /** Seconds a ban lasts (`--ban-time`). */
  time: number;
  /** Addresses tracked at most, for failures and for bans each (default 10 000). */
  maxTracked?: number;
  /** The clock in ms (tests). */
  now?: () => number;
  /** A store shared with other replicas. */
  store?: BanStore;
  /** Called on every counted failure, with its kind (`vncws_auth_failures_total`). */
  onFailure?: (kind: RefusalKind) => void;
  /** Called when the number of active bans changes (`vncws_bans_active`). */
  onActive?: (active: number) => void;
}

/**
 * Failures and bans shared by a fleet. Local state is authoritative for
 * the check (no round trip per connection); the store adds failures seen by
 * other replicas and tells every replica when a ban starts.
 */
export interface BanStore {
  /** Records a failure of `address`; resolves the fleet-wide count within `window` s. */
  failure(address: string, window: number): Promise<number>;
  /** Publishes a ban of `address` lasting `seconds`. */
  ban(address: string, seconds: number): Promise<void>;
  /** Starts delivering bans (from any replica, including earlier ones still running). */
  subscribe(onBan: (address: string, seconds: number) => void): Promise<void>;
  /** Disconnects. */
  close(): Promise<void>;
}

/** Failure counts and bans per client address; see the module doc. */
export class BanList {
  readonly #after: number;
  readonly #windowMs: number;
  readonly #timeMs: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #options: BanOptions;
  /** Address → times of its recent failures (at most `after`). */
  readonly #failures = new Map<string, number[]>();
  /** Address → when its ban ends (ms). */
  readonly #bans = new Map<string, number>();
  #sweeper?: ReturnType<typeof setInterval>;

  /** Builds an empty list. */
  constructor(options: BanOptions) {
    this.#options = options;
    this.#after = Math.max(1, Math.floor(options.after));
    this.#windowMs = options.window * 1000;
    this.#timeMs = options.time * 1000;
    this.#max = options.maxTracked ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** Starts receiving the fleet's bans from the store, if any. */
  async start(): Promise<void> {
    await this.#options.store?.subscribe((address, seconds) => {
      this.#startBan(address, this.#now() + seconds * 1000, "another replica");
    });
  }

  /** Addresses with recent failures being counted (bounded by `maxTracked`). */
  get tracked(): number {
    return this.#failures.size;
  }

  /** Bans now in force. */
  get active(): number {
    return this.#bans.size;
  }

  /** A 429 refusal when `address` is banned now, else `null`. */
  check(client: string): Refusal | null {
    const address = banKey(client);
    const until = this.#bans.get(address);
    if (until === undefined) return null;
    const left = until - this.#now();
    if (left <= 0) {
      this.#endBan(address);
      return null;
    }
    return refusal("banned", 429, "too many failed attempts from this address; try again later", {
      "Retry-After": String(Math.ceil(left / 1000)),
    });
  }

  /**
   * Counts `refused` against `address` when its kind is a failure
   * ({@linkcode FAILURE_KINDS}); starts a ban at the `after`-th failure
   * within the window.
   */
  failed(client: string, refused: Refusal): void {
    const address = banKey(client);
    if (!FAILURE_KINDS.has(refused.kind) || this.#bans.has(address)) return;
    this.#options.onFailure?.(refused.kind);
    const times = countFailure(this.#failures, address, this.#now(), this.#windowMs, this.#max);
    if (times.length >= this.#after) {
      this.#ban(address, times.length);
      return;
    }
    const store = this.#options.store;
    if (!store) return;
    store.failure(address, this.#options.window).then((count) => {
      if (count >= this.#after && !this.#bans.has(address)) this.#ban(address, count);
      // The store says once when Redis goes away; a line per failure would flood the log.
    }).catch((e) => logDebug("ban store failed", { reason: (e as Error).message }));
  }

  /** Stops the timer that ends bans and disconnects the store. */
  async close(): Promise<void> {
    this.#stopSweeper();
    await this.#options.store?.close();
  }

  #stopSweeper(): void {
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  #ban(address: string, failures: number): void {
    this.#failures.delete(address);
    this.#startBan(address, this.#now() + this.#timeMs, `${failures} failures`);
    this.#options.store?.ban(address, this.#options.time).catch((e) =>
      logDebug("ban store failed", { reason: (e as Error).message })
    );
  }

  #startBan(address: string, until: number, why: string): void {
    const known = this.#bans.get(address);
    if (known !== undefined && known >= until) return;
    this.#bans.delete(address);
    if (this.#bans.size >= this.#max) {
      // The oldest ban is forgotten: a flood of addresses cannot grow the table.
      const oldest = this.#bans.keys().next().value!;
      this.#bans.delete(oldest);
      logInfo("ban dropped: too many bans tracked", { client: oldest });
      this.#options.onActive?.(this.#bans.size);
    }
    this.#bans.set(address, until);
    this.#failures.delete(address);
    if (known === undefined) {
      logInfo("ban start", {
        client: address,
        why,
        seconds: Math.round((until - this.#now()) / 1000),
      });
      this.#options.onActive?.(this.#bans.size);
    }
    if (this.#sweeper === undefined) {
      this.#sweeper = setInterval(() => this.#sweep(), 1000);
      Deno.unrefTimer(this.#sweeper);
    }
  }

  #endBan(address: string): void {
    if (!this.#bans.delete(address)) return;
    logInfo("ban end", { client: address });
    this.#options.onActive?.(this.#bans.size);
    if (this.#bans.size === 0) this.#stopSweeper();
  }

  /** Ends the bans whose time is up, so the log line and the gauge come on time. */
  #sweep(): void {
    const now = this.#now();
    for (const [address, until] of this.#bans) if (until <= now) this.#endBan(address);
  }
}
