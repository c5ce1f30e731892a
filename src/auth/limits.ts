/**
 * Per-client and per-token limits: concurrent connections per client IP,
 * concurrent connections per token and a handshake rate per client IP
 * (token bucket). The total connection cap lives in the accept loop
 * (`limits.maxConnections`, 503).
 * @module
 */
import { type Refusal, refusal } from "./refusal.ts";

/** Options for {@linkcode createLimiter}; an absent or 0 value means no limit. */
export interface LimiterOptions {
  /** Max concurrent sessions from one client address. */
  maxPerIp?: number;
  /** Max concurrent sessions using one token. */
  maxPerToken?: number;
  /**
   * Handshakes per second from one client address (token bucket; bursts up
   * to one second's worth, at least 1). Every attempt counts, refused or not.
   */
  handshakeRatePerIp?: number;
}

/** A slot held by a session; release it when the session ends (idempotent). */
export interface LimitSlot {
  /** Frees the slot; later calls do nothing. */
  release(): void;
}

/** What {@linkcode createLimiter} returns. */
export interface Limiter {
  /**
   * Takes a slot for a session from `ip` (the client address, after
   * `clientAddress`) with an optional token hash. Returns a 429 refusal when
   * a limit is exceeded (nothing is held then), else a slot to release.
   */
  acquire(ip: string, tokenHash?: string): Refusal | LimitSlot;
  /**
   * Only the handshake rate: call it first thing (before auth and token
   * lookups, which cost more), then {@linkcode Limiter.hold}. Returns a 429
   * refusal when over the rate, else `null`.
   */
  handshake(ip: string): Refusal | null;
  /** Only the concurrency limits (per IP, per token); see {@linkcode Limiter.acquire}. */
  hold(ip: string, tokenHash?: string): Refusal | LimitSlot;
  /** Current concurrent sessions per address (for status pages and tests). */
  activeForIp(ip: string): number;
}

/** The 429 for `--max-per-ip` (here and across a fleet, src/auth/fleet_limits.ts). */
export function ipLimitRefusal(max: number, ip: string): Refusal {
  return refusal("limit", 429, `more than ${max} concurrent connections from ${ip}`);
}

/** The 429 for `--max-per-token`. */
export function tokenLimitRefusal(max: number): Refusal {
  return refusal("limit", 429, `more than ${max} concurrent connections with this token`);
}

/** The 429 for `--handshake-rate` (here and host-wide, src/auth/fleet_limits.ts). */
export function rateRefusal(rate: number, ip: string): Refusal {
  return refusal("rate", 429, `more than ${rate} connection attempts per second from ${ip}`, {
    "Retry-After": "1",
  });
}

interface Bucket {
  tokens: number;
  last: number;
}

/** Drop idle rate buckets once this many exist (a full bucket carries no state). */
const SWEEP_AT = 10000;

/** Builds a limiter; see {@linkcode LimiterOptions}. */
export function createLimiter(options: LimiterOptions): Limiter {
  const maxPerIp = options.maxPerIp ?? 0;
  const maxPerToken = options.maxPerToken ?? 0;
  const rate = options.handshakeRatePerIp ?? 0;
  const burst = Math.max(1, rate);
  const perIp = new Map<string, number>();
  const perToken = new Map<string, number>();
  const buckets = new Map<string, Bucket>();

  const takeHandshake = (ip: string): boolean => {
    const now = performance.now();
    let b = buckets.get(ip);
    if (!b) {
      if (buckets.size >= SWEEP_AT) {
        for (const [k, v] of buckets) {
          if (v.tokens + ((now - v.last) / 1000) * rate >= burst) buckets.delete(k);
        }
      }
      b = { tokens: burst, last: now };
      buckets.set(ip, b);
    }
    b.tokens = Math.min(burst, b.tokens + ((now - b.last) / 1000) * rate);
    b.last = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  };

  const dec = (map: Map<string, number>, key: string) => {
    const n = (map.get(key) ?? 0) - 1;
    if (n <= 0) map.delete(key);
    else map.set(key, n);
  };

  const handshake = (ip: string): Refusal | null => {
    return rate > 0 && !takeHandshake(ip) ? rateRefusal(rate, ip) : null;
  };

  const hold = (ip: string, tokenHash?: string): Refusal | LimitSlot => {
    if (maxPerIp > 0 && (perIp.get(ip) ?? 0) >= maxPerIp) return ipLimitRefusal(maxPerIp, ip);
    if (
      tokenHash !== undefined && maxPerToken > 0 && (perToken.get(tokenHash) ?? 0) >= maxPerToken
    ) {
      return tokenLimitRefusal(maxPerToken);
    }
    perIp.set(ip, (perIp.get(ip) ?? 0) + 1);
    if (tokenHash !== undefined) perToken.set(tokenHash, (perToken.get(tokenHash) ?? 0) + 1);
    let released = false;
    return {
      release() {
        if (released) return;
        released = true;
        dec(perIp, ip);
        if (tokenHash !== undefined) dec(perToken, tokenHash);
      },
    };
  };

  return {
    handshake,
    hold,
    acquire(ip: string, tokenHash?: string): Refusal | LimitSlot {
      return handshake(ip) ?? hold(ip, tokenHash);
    },
    activeForIp(ip: string): number {
      return perIp.get(ip) ?? 0;
    },
  };
}
