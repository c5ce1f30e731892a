/**
 * The open-file limit against `--max-connections`: each session holds two
 * descriptors (client and target), three with `--record`. Running out makes
 * accepts fail, and a node:net listener (`--ssl-only`, systemd) even stops
 * accepting (src/net/node_listener.ts), so vncws warns at start.
 * @module
 */

/** Descriptors vncws keeps for itself beyond its sessions (runtime, logs, listeners). */
export const FD_RESERVE = 64;

/** The open-file (soft) limit of this process, from /proc/self/limits; undefined if unknown. */
export function openFileLimit(): number | undefined {
  try {
    const line = Deno.readTextFileSync("/proc/self/limits").split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === "unlimited" ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

/** Options for {@linkcode fdLimitWarning}. */
export interface FdLimitOptions {
  /** Descriptors per session (2, or 3 with `--record`). */
  perSession: number;
  /** The open-file limit; nothing to say when unknown. */
  limit: number | undefined;
}

/**
 * A warning with the fix when `maxConnections` sessions need more descriptors
 * than the limit allows, else undefined.
 */
export function fdLimitWarning(
  maxConnections: number,
  options: FdLimitOptions,
): string | undefined {
  const { perSession, limit } = options;
  const needed = maxConnections * perSession + FD_RESERVE;
  if (limit === undefined || needed <= limit) return undefined;
  // Deno raises its soft limit to the hard one at start, so the hard limit is what to raise.
  return `--max-connections ${maxConnections} needs about ${needed} open files, but the limit is ` +
    `${limit}: raise the hard limit (LimitNOFILE= in the systemd unit, or limits.conf) or ` +
    `lower --max-connections to ${Math.max(1, Math.floor((limit - FD_RESERVE) / perSession))}`;
}
