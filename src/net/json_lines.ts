/**
 * One JSON object a line over a unix socket: how a `--workers` parent
 * serves what its relay processes share (the host's bans, limits) and how
 * each worker asks. A request carries a numeric `id` and its answer the
 * same `id`; any other line is a message of its own (e.g. a ban the parent
 * passes on).
 * @module
 */

const encoder = new TextEncoder();

/** A parsed line: always a JSON object. */
export type JsonLine = Record<string, unknown>;

/** Calls `onLine` with each JSON object read from `conn` until it ends; other lines are skipped. */
export async function readJsonLines(
  conn: Deno.Conn,
  onLine: (line: JsonLine) => void,
): Promise<void> {
  let rest = "";
  try {
    for await (const chunk of conn.readable.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop()!;
      for (const line of lines) {
        if (!line) continue;
        let m: unknown;
        try {
          m = JSON.parse(line);
        } catch {
          continue;
        }
        if (m !== null && typeof m === "object" && !Array.isArray(m)) onLine(m as JsonLine);
      }
    }
  } catch { /* the peer went away */ }
}

/** Writes `message` as one line (never throws: a gone peer is noticed by its reader). */
export function sendJsonLine(conn: Deno.Conn, message: JsonLine): void {
  conn.write(encoder.encode(JSON.stringify(message) + "\n")).catch(() => {});
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* closed */ }
}

/** What a {@linkcode serveJsonLines} server does with its peers. */
export interface JsonLineHandlers {
  /** A peer connected. */
  open?(conn: Deno.Conn): void;
  /** A line from `conn`. */
  line(conn: Deno.Conn, line: JsonLine): void;
  /** `conn` is gone (its process exited, or it closed): drop what it held. */
  close?(conn: Deno.Conn): void;
}

/** Serves `handlers` on the unix socket `path` until the returned `close`. */
export function serveJsonLines(
  path: string,
  handlers: JsonLineHandlers,
): { close(): void; readonly conns: ReadonlySet<Deno.Conn> } {
  const listener = Deno.listen({ transport: "unix", path });
  const conns = new Set<Deno.Conn>();
  void (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      handlers.open?.(conn);
      void readJsonLines(conn, (line) => handlers.line(conn, line)).finally(() => {
        conns.delete(conn);
        closeQuietly(conn);
        handlers.close?.(conn);
      });
    }
  })().catch(() => {});
  return {
    /** The connections open now (to send every worker a line). */
    conns,
    close() {
      listener.close();
      for (const c of conns) closeQuietly(c);
    },
  };
}

/** A worker's connection to a {@linkcode serveJsonLines} server. */
export interface JsonLineClient {
  /** Sends a line that has no answer. */
  send(message: JsonLine): void;
  /** Sends `message` with a fresh `id`; resolves the answer, rejects once the connection is gone. */
  request(message: JsonLine): Promise<JsonLine>;
  /** True until the connection ends. */
  readonly open: boolean;
  /** Resolves when the connection has ended. */
  readonly ended: Promise<void>;
  /** Closes the connection. */
  close(): void;
}

/**
 * Connects to the server at `path`; lines that answer no request go to
 * `onMessage`. Rejects when nothing listens there.
 */
export async function connectJsonLines(
  path: string,
  onMessage: (line: JsonLine) => void = () => {},
): Promise<JsonLineClient> {
  const conn = await Deno.connect({ transport: "unix", path });
  let open = true;
  let next = 0;
  const waiting = new Map<number, PromiseWithResolvers<JsonLine>>();
  const ended = readJsonLines(conn, (line) => {
    const w = typeof line.id === "number" ? waiting.get(line.id) : undefined;
    if (!w) return onMessage(line);
    waiting.delete(line.id as number);
    w.resolve(line);
  }).then(() => {
    open = false;
    closeQuietly(conn);
    for (const w of waiting.values()) w.reject(new Error(`${path}: connection closed`));
    waiting.clear();
  });
  return {
    send(message) {
      if (open) sendJsonLine(conn, message);
    },
    request(message) {
      if (!open) return Promise.reject(new Error(`${path}: connection closed`));
      const id = ++next;
      const w = Promise.withResolvers<JsonLine>();
      waiting.set(id, w);
      sendJsonLine(conn, { ...message, id });
      return w.promise;
    },
    get open() {
      return open;
    },
    ended,
    close() {
      open = false;
      closeQuietly(conn);
    },
  };
}
