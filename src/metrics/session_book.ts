/**
 * Bookkeeping around relayed sessions: the live-session table and metrics
 * for `--metrics`, recorders for `--record`, traffic symbols for
 * `--traffic`, and the counts the lifecycle needs (`--idle-timeout`,
 * `--run-once`), and with `--state-redis` the fleet's list (a
 * {@linkcode FleetRegistry}). Per-chunk work happens only for the features
 * turned on.
 * @module
 */
import type { Config } from "../config/config.ts";
import { formatTarget } from "../net/address.ts";
import type { SessionObserver, SessionStart } from "../proxy/context.ts";
import type { CloseRequest, RelayResult } from "../ws/relay.ts";
import { createVncwsMetrics, type VncwsMetrics } from "./metrics.ts";
import { createRecorder } from "../recording/record.ts";
import { type ChunkHooks, countingHooks, type SessionInfo, SessionTable } from "./sessions.ts";

/** The fleet's session list (`--state-redis`, src/app/fleet.ts), told of each session. */
export interface FleetRegistry {
  /**
   * A session started; `info` is its live entry (byte counts grow in it).
   * `end` ends it on an administrator's request.
   */
  open(info: SessionInfo, kind: "ws" | "raw", end: (request: CloseRequest) => void): void;
  /** Session `id` ended. */
  close(id: number): void;
}

/** Options for {@linkcode createSessionBook}. */
export interface SessionBookOptions {
  /** Called when a session starts relaying. */
  onStart?: (start: SessionStart) => void;
  /** Called when a session ended (after the book is updated), with its duration in ms. */
  onEnd?: (start: SessionStart, result: RelayResult, ms: number) => void;
  /** Keep the live-session table without `--metrics` (a program asks for the sessions). */
  table?: boolean;
  /** `--state-redis`: the fleet's list (the live table is kept then, with or without metrics). */
  fleet?: FleetRegistry;
}

/** What {@linkcode createSessionBook} returns. */
export interface SessionBook extends SessionObserver {
  /** Metrics and the live table (undefined without --metrics). */
  metrics?: VncwsMetrics;
  /** The live-session table (undefined without --metrics and --state-redis). */
  table?: SessionTable;
  /** Sessions relaying now. */
  readonly active: number;
  /** When the last session ended (ms since the epoch; start time before any). */
  readonly lastEnd: number;
}

const encoder = new TextEncoder();

/** Creates the book for `config`. */
export function createSessionBook(config: Config, options: SessionBookOptions = {}): SessionBook {
  const metrics = config.metrics ? createVncwsMetrics() : undefined;
  const fleet = options.fleet;
  const table = metrics || fleet || options.table ? new SessionTable() : undefined;
  if (metrics && table) metrics.registry.onCollect(() => metrics.sessionsActive.set(table.size));
  let active = 0;
  let lastEnd = Date.now();
  const traffic = config.traffic
    ? (symbol: string) => void Deno.stdout.write(encoder.encode(symbol)).catch(() => {})
    : undefined;

  return {
    metrics,
    table,
    refused: (refusal, answered) =>
      metrics?.handshakeFailures.labels(answered ? String(refusal.status) : "closed").inc(),
    connected: (seconds) => metrics?.targetConnectSeconds.observe(seconds),
    rfbDropped: (kind) => metrics?.rfbDropped.labels(kind).inc(),
    get active() {
      return active;
    },
    get lastEnd() {
      return lastEnd;
    },
    openSession(start) {
      active++;
      const started = Date.now();
      const info = table?.add({
        id: start.id,
        client: start.client.address ?? start.client.peer,
        target: formatTarget(start.target),
        token: start.token,
        started,
      });
      let ended: AbortController | undefined;
      if (fleet && info) {
        ended = new AbortController();
        const abort = ended;
        fleet.open(info, start.kind, (request) => abort.abort(request));
      }
      // websockify records WebSocket sessions only; raw relays have no frames to record.
      const recorder = config.record && start.kind === "ws"
        ? createRecorder(config.record, start.id)
        : undefined;
      const record: ChunkHooks | undefined = info ? countingHooks(info, recorder) : recorder;
      options.onStart?.(start);
      return {
        options: { record, traffic },
        signal: ended?.signal,
        end(result) {
          active--;
          lastEnd = Date.now();
          table?.remove(start.id);
          fleet?.close(start.id);
          void recorder?.close();
          if (metrics) {
            metrics.bytesToTarget.inc(result.toTarget);
            metrics.bytesToClient.inc(result.toClient);
            metrics.sessionsTotal.labels(result.outcome).inc();
          }
          options.onEnd?.(start, result, Date.now() - started);
        },
      };
    },
  };
}
