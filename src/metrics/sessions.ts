/**
 * The table of live sessions behind the status page and `/sessions.json`.
 * The session layer adds an entry when relaying starts and removes it at the
 * end; byte counts are plain number fields the relay hooks increment.
 * @module
 */

/** One live session as the status page shows it. */
export interface SessionInfo {
  /** Connection number (the same `n` as the `--record` file suffix). */
  id: number;
  /** Client address (`ip:port`, `[v6]:port` or `unix`). */
  client: string;
  /** Target as text (`host:port`, `unix:/path`). */
  target: string;
  /** The token's short hash (never the token), when a token routed it. */
  token?: string;
  /** The replica that holds it, in a fleet's list (`--state-redis`). */
  replica?: string;
  /** When relaying started (ms since the epoch). */
  started: number;
  /** Bytes from the client to the target so far. */
  bytesToTarget: number;
  /** Bytes from the target to the client so far. */
  bytesToClient: number;
  /** The `--workers` relay process that serves it (ids are per worker). */
  worker?: number;
}

/** The relay's per-chunk hooks (the shape of `WsRelayOptions.record`). */
export interface ChunkHooks {
  /** Bytes from the client, before they go to the target. */
  fromClient(data: Uint8Array): void;
  /** Bytes from the target, before they go to the client. */
  toClient(data: Uint8Array): void;
}

/** Live sessions by id. */
export class SessionTable {
  readonly #sessions = new Map<number, SessionInfo>();

  /**
   * Adds a session and returns its entry; keep it and change its byte fields
   * directly (or through {@linkcode countingHooks}).
   */
  add(
    info: Omit<SessionInfo, "bytesToTarget" | "bytesToClient"> & Partial<SessionInfo>,
  ): SessionInfo {
    const entry: SessionInfo = { bytesToTarget: 0, bytesToClient: 0, ...info };
    this.#sessions.set(entry.id, entry);
    return entry;
  }

  /** Changes fields of a live session (e.g. final byte counts); unknown ids are ignored. */
  update(id: number, fields: Partial<Omit<SessionInfo, "id">>): void {
    const s = this.#sessions.get(id);
    if (s) Object.assign(s, fields);
  }

  /** Removes a session (it ended). */
  remove(id: number): void {
    this.#sessions.delete(id);
  }

  /** Number of live sessions. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Copies of the live sessions, oldest first. */
  list(): SessionInfo[] {
    return [...this.#sessions.values()].map((s) => ({ ...s }));
  }
}

/**
 * Relay hooks that count bytes into `info` (one addition per chunk) and pass
 * each chunk on to `next` (a `--record` recorder) when given.
 */
export function countingHooks(info: SessionInfo, next?: ChunkHooks): ChunkHooks {
  if (next) {
    return {
      fromClient(data) {
        info.bytesToTarget += data.length;
        next.fromClient(data);
      },
      toClient(data) {
        info.bytesToClient += data.length;
        next.toClient(data);
      },
    };
  }
  return {
    fromClient(data) {
      info.bytesToTarget += data.length;
    },
    toClient(data) {
      info.bytesToClient += data.length;
    },
  };
}
