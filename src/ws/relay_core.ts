/**
 * What every role of the relay engine shares: the read buffer steps, the
 * serial writer, the result shape, the options (hooks and timers) and
 * {@linkcode RelayCore}, the per-session state that owns the timers, the
 * shutdown signal and the byte counts. The roles' pumps live in
 * relay_framed.ts and relay_raw.ts; relay.ts is the entry point.
 * @module
 */
import { type Deadline, deadlines } from "../base/deadlines.ts";
import { onAbort, raceTimeout, StopGroup, type STOPPED, type TIMEOUT } from "../base/time.ts";
import type { ByteStream } from "../net/stream.ts";

/** Read buffer size of a busy direction; websockify reads 64 KiB from the target too. */
export const RELAY_BUFFER = 64 * 1024;

/**
 * Read buffer size of a direction in bulk transfer (a read filled
 * {@linkcode RELAY_BUFFER}). Fewer, larger reads and writes cut the relay's
 * CPU per GiB by about a quarter against 64 KiB (docs/bench.md).
 */
export const BULK_BUFFER = 256 * 1024;

/**
 * First read buffer size. Idle sessions (most of a VNC fleet) keep only this
 * much per direction; a read that fills it switches that direction to
 * {@linkcode RELAY_BUFFER}, and a read that fills that to {@linkcode BULK_BUFFER}.
 */
export const INITIAL_BUFFER = 2 * 1024;

/**
 * The read buffer size after a read of `filled` bytes into a buffer of
 * `size`: the next step when the read filled it, else `size` (never shrinks).
 */
export function nextBufferSize(size: number, filled: number): number {
  if (filled < size) return size;
  return size < RELAY_BUFFER ? RELAY_BUFFER : size < BULK_BUFFER ? BULK_BUFFER : size;
}

/** After a peer's EOF without a close frame, how long a silent other side may keep the session open. */
export const HALF_CLOSE_IDLE_MS = 5000;

/**
 * How long a session ended by a timer or shutdown waits for its close frame
 * to be written before closing both streams anyway: a peer that stopped
 * reading never takes it, and that must not hold the session.
 */
export const CLOSE_GRACE_MS = 1000;

/** How a relay ended, for the session's log line. */
export interface RelayResult {
  /** Bytes toward the target (from the client: the viewer side of the session). */
  toTarget: number;
  /** Bytes toward the client (from the target: the VNC server side). */
  toClient: number;
  /** Close code sent or received (WebSocket roles), 0 for raw relays. */
  code: number;
  /** Why the session ended, in words. */
  reason: string;
  /** Who or what ended it, for metrics. */
  outcome: "client_closed" | "target_closed" | "timeout" | "shutdown" | "ended" | "error";
}

/**
 * An abort reason for {@linkcode WsRelayOptions.signal} that ends one
 * session on purpose (an administrator's request) with this close code and
 * reason, instead of a shutdown's 1001; the outcome is `ended`.
 */
export class CloseRequest {
  /** Close with `code` and `reason` (WebSocket roles; the raw role just hangs up). */
  constructor(readonly code: number, readonly reason: string) {}
}

/** Copies of the bytes each way (`--record`, live byte counts); called before forwarding. */
export interface RecordHooks {
  /** Bytes from the client, about to go to the target. */
  fromClient(data: Uint8Array): void;
  /** Bytes from the target, about to go to the client. */
  toClient(data: Uint8Array): void;
}

/** Options of every role (the WebSocket ones are ignored by the raw role). */
export interface WsRelayOptions {
  /** WebSocket peer bytes already read after the handshake head (pipelined frames). */
  leftover?: Uint8Array;
  /** Max bytes per received message, 0 = none (close 1009 beyond). */
  maxMessageBytes?: number;
  /** Send a ping every N seconds (websockify `--heartbeat`, the bridge's `--ping-interval`). */
  heartbeat?: number;
  /** With heartbeat: close when nothing came from the peer N seconds after a ping. */
  pingTimeout?: number;
  /** Close when no data moved either way for N seconds. */
  idleTimeout?: number;
  /** `--traffic`: called with websockify's symbols (`}` `>` up, `{` `<` down). */
  traffic?: (symbol: string) => void;
  /**
   * Aborting closes the session with 1001 "Going away" (shutdown), or as a
   * {@linkcode CloseRequest} reason says.
   */
  signal?: AbortSignal;
  /** Copies of the bytes each way, for `--record` and live counts (called before forwarding). */
  record?: RecordHooks;
  /** After our close frame, how long to wait for the peer's (default per role: 5 s, bridge 2 s). */
  closeWaitMs?: number;
}

/** Writes to one stream in order from several producers (data, pongs, pings, close). */
export class SerialWriter {
  readonly #stream: ByteStream;
  #tail: Promise<void> = Promise.resolve();
  #failed = false;
  /** Writes queued or under way; at 0 a write starts at once. */
  #pending = 0;
  readonly #settled = () => {
    this.#pending--;
  };
  readonly #failedNow = () => {
    this.#failed = true;
    this.#pending--;
  };

  /** A writer for `stream`; every write goes through it from now on. */
  constructor(stream: ByteStream) {
    this.#stream = stream;
  }

  /** Queues `data` after earlier writes; rejects if the stream failed. */
  write(data: Uint8Array): Promise<void> {
    if (this.#failed) return Promise.reject(new Error("stream closed"));
    // Nothing ahead (the usual case: the data pump awaits each write): start
    // it now, without a turn through the queue's promise chain.
    const p = this.#pending === 0 ? this.#stream.writeAll(data) : this.#tail.then(() => {
      if (this.#failed) throw new Error("stream closed");
      return this.#stream.writeAll(data);
    });
    this.#pending++;
    this.#tail = p.then(this.#settled, this.#failedNow);
    return p;
  }
}

/** Which of two running pumps ended first, and how (the other keeps running). */
export function firstEnd<U, D>(
  up: Promise<U>,
  down: Promise<D>,
): Promise<{ side: "up"; end: U } | { side: "down"; end: D }> {
  return Promise.race([
    up.then((end) => ({ side: "up" as const, end })),
    down.then((end) => ({ side: "down" as const, end })),
  ]);
}

/** websockify's `--traffic` symbols: read from the client, written to the target, and back. */
export const TRAFFIC = { upRead: "}", upWritten: ">", downRead: "{", downWritten: "<" } as const;

/**
 * One session's shared state: the two streams, the result, the options,
 * the timers (all cleared by {@linkcode finish}) and the shutdown signal.
 * The roles extend it with their pumps.
 */
export class RelayCore {
  /** The viewer's side (a WebSocket client for the proxy, the local socket for the bridge). */
  readonly client: ByteStream;
  /** The VNC server's side (the target for the proxy, the WebSocket server for the bridge). */
  readonly target: ByteStream;
  /** The options the session was started with. */
  readonly options: WsRelayOptions;
  /** Filled in as the session goes; returned at the end. */
  readonly result: RelayResult = {
    toTarget: 0,
    toClient: 0,
    code: 0,
    reason: "",
    outcome: "error",
  };
  /** Both streams were closed by {@linkcode stopAll}: pump errors after it are expected. */
  stopped = false;
  /** The idle or ping timeout ended the session. */
  timedOut = false;
  /** When data last moved either way (ms since the epoch), for the idle timeout. */
  lastActivity: number = Date.now();
  /**
   * Some timer reads the pumps' times (idle or ping timeout, the half-close
   * wait): without one, the pumps skip Date.now() on every read.
   */
  clock: boolean;
  /**
   * The session's pending timers, in the process's shared
   * {@linkcode deadlines} (one native timer for every session): a slot per
   * timer kind, each holding its next deadline; all cancelled by
   * {@linkcode finish}. None is armed per read: a timer that fires early for
   * a session that was active re-arms from `lastActivity`.
   */
  readonly #timers: (Deadline | undefined)[] = [];
  /** {@linkcode finish} ran: timers that were due in the same turn do nothing. */
  #done = false;
  /**
   * Ends every {@linkcode race} still waiting, at {@linkcode finish}: a
   * StopGroup, not an AbortController (one per session, its listeners and
   * the DOMException of its abort showed in handshake CPU), made on the
   * first race so an idle session holds none.
   */
  #finished?: StopGroup;
  /** Cancels the shutdown callback (base/time.ts onAbort), set by {@linkcode watch}. */
  #offAbort?: () => void;

  /** State for a session between `client` and `target`. */
  constructor(client: ByteStream, target: ByteStream, options: WsRelayOptions) {
    this.client = client;
    this.target = target;
    this.options = options;
    this.clock = (options.idleTimeout ?? 0) > 0 ||
      ((options.heartbeat ?? 0) > 0 && (options.pingTimeout ?? 0) > 0);
  }

  /** Sets the result's code and reason unless an earlier event already did: the first cause wins. */
  setEnd(code: number, reason: string): void {
    if (this.result.code === 0 && this.result.reason === "") {
      this.result.code = code;
      this.result.reason = reason;
    }
  }

  /** Closes both streams (once); pending reads and writes then fail or end. */
  stopAll(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.client.close();
    this.target.close();
  }

  /**
   * `p`'s value, or TIMEOUT after `ms`, or STOPPED once the session finished.
   * The timer is cleared as soon as the race is decided: none piles up.
   */
  race<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMEOUT | typeof STOPPED> {
    return raceTimeout(p, ms, this.#finished ??= new StopGroup());
  }

  /** Runs `fn` every `ms` until {@linkcode finish}. */
  every(ms: number, fn: () => void): void {
    const slot = this.#timers.length;
    const tick = () => {
      if (this.#done) return;
      this.#timers[slot] = deadlines.after(ms, tick);
      fn();
    };
    this.#timers.push(deadlines.after(ms, tick));
  }

  /** Runs `fn` once, `ms` from now, unless {@linkcode finish} comes first. */
  after(ms: number, fn: () => void): void {
    // a slot that ran is reused: a timer armed again and again (one per ping) adds none
    let slot = this.#timers.indexOf(undefined);
    if (slot < 0) slot = this.#timers.length;
    this.#timers[slot] = deadlines.after(ms, () => {
      this.#timers[slot] = undefined;
      if (!this.#done) fn();
    });
  }

  /**
   * Starts the idle timeout (when configured) and the shutdown signal:
   * `onIdle` and `aborted` end the session their role's way.
   */
  watch(onIdle: () => void, aborted: () => void): void {
    const idle = this.options.idleTimeout;
    if (idle && idle > 0) {
      // One deadline at lastActivity + the timeout: a session that moved data
      // meanwhile re-arms from its last activity (at most once per timeout,
      // where a check every second cost every session a wake-up a second).
      const ms = idle * 1000;
      const slot = this.#timers.length;
      const check = () => {
        if (this.stopped || this.#done) return;
        const due = this.lastActivity + ms;
        if (Date.now() < due) {
          this.#timers[slot] = deadlines.at(due, check);
          return;
        }
        this.#timers[slot] = undefined;
        this.timedOut = true;
        onIdle();
      };
      this.#timers.push(deadlines.after(ms, check));
    }
    const signal = this.options.signal;
    if (signal) this.#offAbort = onAbort(signal, aborted);
  }

  /** Clears every timer and the abort listener, sets the outcome, returns the result. */
  finish(cleanEnd: "client_closed" | "target_closed" | undefined): RelayResult {
    this.#done = true;
    this.#finished?.stop();
    for (const t of this.#timers) deadlines.cancel(t);
    this.#timers.length = 0;
    this.#offAbort?.();
    this.result.outcome = this.options.signal?.aborted
      ? this.options.signal.reason instanceof CloseRequest ? "ended" : "shutdown"
      : this.timedOut
      ? "timeout"
      : cleanEnd ?? "error";
    return this.result;
  }
}
