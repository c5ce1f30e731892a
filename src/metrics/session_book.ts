/**
 * Bookkeeping around relayed sessions: the live-session table and metrics
 * for `--metrics`, recorders for `--record`, traffic symbols for
 * `--traffic`, and the counts the lifecycle needs (`--idle-timeout`,
 * `--run-once`). Per-chunk work happens only for the features turned on.
 * @module
 */
import type { Config } from "../config/config.ts";
import { formatTarget } from "../net/address.ts";
import type { SessionObserver, SessionStart } from "../proxy/context.ts";
import type { RelayResult } from "../ws/relay.ts";
import { createVncwsMetrics, type VncwsMetrics } from "./metrics.ts";
import { createRecorder } from "../recording/record.ts";
import { type ChunkHooks, countingHooks, SessionTable } from "./sessions.ts";

/** Options for {@linkcode createSessionBook}. */
export interface SessionBookOptions {
  /** Called when a session ended (after the book is updated). */
  onEnd?: (start: SessionStart, result: RelayResult) => void;
}

/** What {@linkcode createSessionBook} returns. */
export interface SessionBook extends SessionObserver {
  /** Metrics and the live table (undefined without --metrics). */
  metrics?: VncwsMetrics;
  /** The live-session table (undefined without --metrics). */
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
  const table = metrics ? new SessionTable() : undefined;
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
    get active() {
      return active;
    },
    get lastEnd() {
      return lastEnd;
    },
    openSession(start) {
      active++;
      const info = table?.add({
        id: start.id,
        client: start.client.address ?? start.client.peer,
        target: formatTarget(start.target),
        started: Date.now(),
      });
      // websockify records WebSocket sessions only; raw relays have no frames to record.
      const recorder = config.record && start.kind === "ws"
        ? createRecorder(config.record, start.id)
        : undefined;
      const record: ChunkHooks | undefined = info ? countingHooks(info, recorder) : recorder;
      return {
        options: { record, traffic },
        end(result) {
          active--;
          lastEnd = Date.now();
          table?.remove(start.id);
          void recorder?.close();
          if (metrics) {
            metrics.bytesToTarget.inc(result.toTarget);
            metrics.bytesToClient.inc(result.toClient);
            metrics.sessionsTotal.labels(result.outcome).inc();
          }
          options.onEnd?.(start, result);
        },
      };
    },
  };
}
