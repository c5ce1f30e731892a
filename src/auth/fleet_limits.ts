/**
 * `--max-per-ip` and `--max-per-token` across a fleet (`--state-redis`):
 * a session takes this replica's slot first (src/auth/limits.ts), then one
 * in a {@linkcode SlotStore} that every replica shares. The store's check
 * and add are one atomic step, so two replicas cannot both take the last
 * slot.
 *
 * The store may fail or be slow: the shared step is bounded by a timeout
 * and, failing that or while the store is known to be down, the session is
 * admitted on this replica's count alone (each replica then enforces the
 * limits on its own sessions). The local slot is always held too, so that
 * fallback needs no catching up.
 *
 * The same holds for the relay processes of one host (`--workers`), whose
 * parent keeps the host's slots (src/auth/limits_host.ts); it keeps the
 * host's `--handshake-rate` buckets too ({@linkcode createSharedRate}).
 * @module
 */
import { raceTimeout, TIMEOUT } from "../base/time.ts";
import {
  ipLimitRefusal,
  type Limiter,
  type LimitSlot,
  rateRefusal,
  tokenLimitRefusal,
} from "./limits.ts";
import { isRefusal, type Refusal } from "./refusal.ts";

/** One shared count a session needs a slot in. */
export interface SlotClaim {
  /** What is counted: `ip:<address>` or `token:<hash>`. */
  key: string;
  /** How many live slots the key may hold. */
  max: number;
}

/**
 * The fleet's shared slots (Redis: src/app/fleet.ts; the `--workers`
 * parent: src/auth/limits_host.ts), as the limiter sees them.
 */
export interface SlotStore {
  /**
   * Atomically: when every claim's key holds fewer than its `max` live
   * slots, adds `member` to each and resolves -1; else adds nothing and
   * resolves the index of the first full claim. Rejects when unreachable.
   * The caller then {@linkcode SlotStore.keep}s an admitted member.
   */
  take(claims: SlotClaim[], member: string): Promise<number>;
  /**
   * Holds `member` in `keys` until {@linkcode SlotStore.give}: renewed while
   * held, and added without a check when it was admitted while the store did
   * not answer (never throws).
   */
  keep(keys: string[], member: string): void;
  /** Frees `member` in `keys` (never throws; the store retries while it is away). */
  give(keys: string[], member: string): void;
  /** False while the store is known to be unreachable: no request waits for it then. */
  readonly up: boolean;
  /** A new member name, unique in the fleet (the replica id and a counter). */
  member(): string;
}

/** Options for {@linkcode createFleetLimiter}; 0 = no limit, as for the local limiter. */
export interface FleetLimiterOptions {
  /** `--max-per-ip`. */
  maxPerIp: number;
  /** `--max-per-token`. */
  maxPerToken: number;
  /** How long a session's admission waits for the store before counting locally. */
  timeoutMs: number;
}

/** What {@linkcode createFleetLimiter} returns: the concurrency half of a limiter. */
export interface FleetLimiter {
  /** Takes the local slot, then the fleet's; a 429 refusal when either is full. */
  hold(ip: string, tokenHash?: string): Promise<Refusal | LimitSlot>;
}

/** Wraps `local` (the replica's own counts) with the fleet's `store`. */
export function createFleetLimiter(
  local: Limiter,
  store: SlotStore,
  options: FleetLimiterOptions,
): FleetLimiter {
  const { maxPerIp, maxPerToken, timeoutMs } = options;
  return {
    async hold(ip, tokenHash) {
      // This replica's sessions are part of the fleet's: over here is over there.
      const slot = local.hold(ip, tokenHash);
      if (isRefusal(slot)) return slot;
      const claims: SlotClaim[] = [];
      if (maxPerIp > 0) claims.push({ key: `ip:${ip}`, max: maxPerIp });
      if (tokenHash !== undefined && maxPerToken > 0) {
        claims.push({ key: `token:${tokenHash}`, max: maxPerToken });
      }
      if (claims.length === 0) return slot;
      const member = store.member();
      const keys = claims.map((c) => c.key);
      let full: number | typeof TIMEOUT = TIMEOUT;
      if (store.up) {
        try {
          const r = await raceTimeout(store.take(claims, member), timeoutMs);
          if (typeof r === "number") full = r;
        } catch {
          // Unreachable (the store logs that once): admitted on this replica's count.
        }
      }
      if (full !== TIMEOUT && full >= 0) {
        slot.release();
        const claim = claims[full];
        return claim.key.startsWith("ip:")
          ? ipLimitRefusal(claim.max, ip)
          : tokenLimitRefusal(claim.max);
      }
      // Held from now on (renewed while the session lives). Admitted without
      // the store (down, failed, or late: a late take adds the same member),
      // it is counted in the fleet once the store answers again.
      store.keep(keys, member);
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          slot.release();
          store.give(keys, member);
        },
      };
    },
  };
}

/** Handshake-rate buckets shared by processes (the `--workers` parent's). */
export interface HandshakeRateStore {
  /** Takes a handshake for `address` at `rate` a second: false when over it. Rejects when unreachable. */
  handshake(address: string, rate: number): Promise<boolean>;
  /** False while the store is known to be unreachable: no handshake waits for it then. */
  readonly up: boolean;
}

/** Options for {@linkcode createSharedRate}. */
export interface SharedRateOptions {
  /** `--handshake-rate` (0 = no limit). */
  rate: number;
  /** How long a handshake waits for the store before counting locally. */
  timeoutMs: number;
}

/**
 * `--handshake-rate` from `store`, or from `local`'s buckets while the
 * store is down, fails or is late (counting this process's handshakes only).
 */
export function createSharedRate(
  local: Limiter,
  store: HandshakeRateStore,
  options: SharedRateOptions,
): { handshake(ip: string): Promise<Refusal | null> } {
  const { rate, timeoutMs } = options;
  return {
    async handshake(ip) {
      if (rate <= 0 || !store.up) return local.handshake(ip);
      try {
        const ok = await raceTimeout(store.handshake(ip, rate), timeoutMs);
        if (ok !== TIMEOUT) return ok ? null : rateRefusal(rate, ip);
      } catch {
        // Unreachable (the store logs that once): counted here.
      }
      return local.handshake(ip);
    },
  };
}
