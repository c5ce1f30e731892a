/**
 * The hot path: moving bytes between a WebSocket client and a target, and
 * between two raw streams. Backpressure comes from awaiting every write
 * before the next read, so memory per session is two buffers whatever the
 * peers do. One target read becomes one binary frame, written with its
 * header in front in a single write.
 * @module
 */
import type { ByteStream } from "../net/stream.ts";
import {
  CloseCode,
  closePayload,
  encodeFrame,
  FrameDecoder,
  MAX_SERVER_HEADER,
  Opcode,
  writeHeaderBefore,
  WsProtocolError,
} from "./frame.ts";

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

/** After a client's EOF, how long a silent target may keep the session open. */
export const HALF_CLOSE_IDLE_MS = 5000;

/** How a relay ended, for the session's log line. */
export interface RelayResult {
  /** Bytes from the client to the target. */
  toTarget: number;
  /** Bytes from the target to the client. */
  toClient: number;
  /** Close code sent or received (WebSocket), 0 for raw relays. */
  code: number;
  /** Why the session ended, in words. */
  reason: string;
  /** Who or what ended it, for metrics. */
  outcome: "client_closed" | "target_closed" | "timeout" | "shutdown" | "error";
}

/** Writes to one stream in order from several producers (data, pongs, pings, close). */
export class SerialWriter {
  readonly #stream: ByteStream;
  #tail: Promise<void> = Promise.resolve();
  #failed = false;

  constructor(stream: ByteStream) {
    this.#stream = stream;
  }

  /** Queues `data` after earlier writes; rejects if the stream failed. */
  write(data: Uint8Array): Promise<void> {
    const p = this.#tail.then(() => {
      if (this.#failed) throw new Error("stream closed");
      return this.#stream.writeAll(data);
    });
    this.#tail = p.catch(() => {
      this.#failed = true;
    });
    return p;
  }
}

/** Options for {@linkcode relayWebSocket}. */
export interface WsRelayOptions {
  /** Client bytes already read after the request head (pipelined frames). */
  leftover?: Uint8Array;
  /** Max bytes per message, 0 = none (close 1009 beyond). */
  maxMessageBytes?: number;
  /** Send a ping every N seconds (websockify `--heartbeat`). */
  heartbeat?: number;
  /** With heartbeat: close when no pong arrived N seconds after a ping. */
  pingTimeout?: number;
  /** Close when no data moved either way for N seconds. */
  idleTimeout?: number;
  /** `--traffic`: called with websockify's symbols. */
  traffic?: (symbol: string) => void;
  /** Aborting closes the session with 1001 "Going away" (shutdown). */
  signal?: AbortSignal;
  /** Copies of the bytes each way, for `--record` (called before forwarding). */
  record?: { fromClient(data: Uint8Array): void; toClient(data: Uint8Array): void };
}

type UpEnd = "close" | "protocol" | "client-eof" | "client-error" | "target-error" | "stopped";
type DownEnd = "target-eof" | "target-error" | "client-error" | "stopped";

/**
 * Relays between a WebSocket client (after the 101) and a target until
 * either side ends. Never throws; the result says how it ended.
 */
export async function relayWebSocket(
  client: ByteStream,
  target: ByteStream,
  options: WsRelayOptions = {},
): Promise<RelayResult> {
  const writer = new SerialWriter(client);
  const result: RelayResult = { toTarget: 0, toClient: 0, code: 0, reason: "", outcome: "error" };
  const traffic = options.traffic;
  const record = options.record;
  let closeSent = false;
  let stopped = false;
  let lastActivity = Date.now();
  let awaitingPong = 0;

  const sendClose = (code: number, reason: string): Promise<void> => {
    if (closeSent) return Promise.resolve();
    closeSent = true;
    if (result.code === 0) {
      result.code = code;
      result.reason = reason;
    }
    return writer.write(encodeFrame(Opcode.Close, closePayload(code, reason))).catch(() => {});
  };
  const stopAll = () => {
    if (stopped) return;
    stopped = true;
    client.close();
    target.close();
  };

  const up = async (): Promise<UpEnd> => {
    const decoder = new FrameDecoder({
      expectMasked: true,
      maxMessageBytes: options.maxMessageBytes,
    });
    let buf = new Uint8Array(INITIAL_BUFFER);
    let chunk: Uint8Array | undefined = options.leftover?.length ? options.leftover : undefined;
    let current: Uint8Array = new Uint8Array(0);
    let pendStart = -1;
    let pendEnd = -1;
    /** Writes the collected payload bytes; false when the target failed. */
    const flush = async (): Promise<boolean> => {
      if (pendEnd < 0) return true;
      const bytes = current.subarray(pendStart, pendEnd);
      pendStart = pendEnd = -1;
      try {
        await target.writeAll(bytes);
      } catch {
        return false;
      }
      if (traffic) traffic(">");
      result.toTarget += bytes.length;
      return true;
    };
    try {
      for (;;) {
        if (!chunk) {
          let n: number | null;
          try {
            n = await client.read(buf);
          } catch {
            return stopped ? "stopped" : "client-error";
          }
          if (n === null) return "client-eof";
          chunk = buf.subarray(0, n);
          // The decoder is done with the old buffer once this chunk is consumed.
          const size = nextBufferSize(buf.length, n);
          if (size !== buf.length) buf = new Uint8Array(size);
        }
        decoder.push(chunk);
        current = chunk;
        chunk = undefined;
        for (let ev = decoder.next(); ev !== null; ev = decoder.next()) {
          if (ev.kind === "data") {
            const len = ev.bytes.length;
            if (len === 0) continue;
            lastActivity = Date.now();
            if (traffic) traffic("}");
            record?.fromClient(ev.bytes);
            // Payloads of consecutive frames in one read are moved together
            // over the frame headers between them: one target write per read.
            const off = ev.bytes.byteOffset - current.byteOffset;
            if (pendEnd < 0) {
              pendStart = off;
              pendEnd = off + len;
            } else {
              if (off !== pendEnd) current.copyWithin(pendEnd, off, off + len);
              pendEnd += len;
            }
            continue;
          }
          if (!(await flush())) return stopped ? "stopped" : "target-error";
          if (ev.kind === "ping") {
            await writer.write(encodeFrame(Opcode.Pong, ev.payload)).catch(() => {});
          } else if (ev.kind === "pong") {
            awaitingPong = 0;
          } else {
            // Close: echo the code (RFC 6455 §5.5.1) unless we already sent ours.
            if (result.code === 0) {
              result.code = ev.code;
              result.reason = ev.reason ? `client closed: ${ev.reason}` : "client closed";
            }
            const echo = ev.code === CloseCode.NoStatus ? CloseCode.Normal : ev.code;
            await sendClose(echo, ev.reason);
            return "close";
          }
        }
        if (!(await flush())) return stopped ? "stopped" : "target-error";
      }
    } catch (e) {
      if (e instanceof WsProtocolError) {
        await flush(); // what arrived before the violation still goes through
        await sendClose(e.code, e.message);
        return "protocol";
      }
      return stopped ? "stopped" : "client-error";
    }
  };

  const down = async (): Promise<DownEnd> => {
    let buf = new Uint8Array(MAX_SERVER_HEADER + INITIAL_BUFFER);
    let body = buf.subarray(MAX_SERVER_HEADER);
    for (;;) {
      let n: number | null;
      try {
        n = await target.read(body);
      } catch {
        return stopped ? "stopped" : "target-error";
      }
      if (n === null) return "target-eof";
      lastActivity = Date.now();
      if (traffic) traffic("{");
      record?.toClient(body.subarray(0, n));
      const start = writeHeaderBefore(buf, MAX_SERVER_HEADER, Opcode.Binary, n);
      try {
        await writer.write(buf.subarray(start, MAX_SERVER_HEADER + n));
      } catch {
        return stopped ? "stopped" : "client-error";
      }
      if (traffic) traffic("<");
      result.toClient += n;
      const size = nextBufferSize(body.length, n);
      if (size !== body.length) {
        buf = new Uint8Array(MAX_SERVER_HEADER + size);
        body = buf.subarray(MAX_SERVER_HEADER);
      }
    }
  };

  const timers: ReturnType<typeof setTimeout>[] = [];
  let timedOut = false;
  if (options.heartbeat && options.heartbeat > 0) {
    timers.push(setInterval(() => {
      if (
        options.pingTimeout && awaitingPong &&
        Date.now() - awaitingPong > options.pingTimeout * 1000
      ) {
        result.code = CloseCode.GoingAway;
        result.reason = `no pong within ${options.pingTimeout}s`;
        timedOut = true;
        void sendClose(CloseCode.GoingAway, "ping timeout").finally(stopAll);
        return;
      }
      if (!awaitingPong) awaitingPong = Date.now();
      writer.write(encodeFrame(Opcode.Ping, new Uint8Array(0))).catch(() => {});
    }, options.heartbeat * 1000));
  }
  if (options.idleTimeout && options.idleTimeout > 0) {
    const ms = options.idleTimeout * 1000;
    timers.push(setInterval(() => {
      if (Date.now() - lastActivity > ms) {
        timedOut = true;
        void sendClose(CloseCode.GoingAway, "idle timeout").finally(stopAll);
      }
    }, Math.min(ms, 1000)));
  }
  const onAbort = () => void sendClose(CloseCode.GoingAway, "Going away").finally(stopAll);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) onAbort();

  const upP = up();
  const downP = down();
  const first = await firstEnd(upP, downP);
  if (first.side === "up") {
    if (first.end === "client-eof") {
      // The client half-closed without a close frame: let the target finish,
      // but end the session once the target has been silent for
      // HALF_CLOSE_IDLE_MS (a target that ignores the EOF held it forever).
      if (result.code === 0) {
        result.code = CloseCode.Abnormal;
        result.reason = "client closed without a close frame";
      }
      await target.closeWrite();
      let d: DownEnd | undefined;
      downP.then((end) => d = end);
      lastActivity = Date.now();
      while (d === undefined && Date.now() - lastActivity < HALF_CLOSE_IDLE_MS) {
        await Promise.race([downP, new Promise((r) => timers.push(setTimeout(r, 250)))]);
      }
      if (d === "target-eof") await sendClose(CloseCode.Normal, "Target closed");
    } else if (first.end === "protocol") {
      // Closing a socket with unread input makes the kernel send RST, which
      // can destroy our close frame before the client reads it: stop the
      // target, then read and drop the client's bytes for a moment first.
      target.close();
      await drain(client, LINGER_MS);
    } else if (first.end === "target-error") {
      await sendClose(CloseCode.InternalError, "Target write failed");
    } else if (first.end === "close") {
      await target.closeWrite();
    } else if (result.code === 0) {
      result.code = CloseCode.Abnormal;
      result.reason = "client connection lost";
    }
    stopAll();
  } else {
    if (first.end === "target-eof") {
      await sendClose(CloseCode.Normal, "Target closed");
      // Give the client a moment to answer the close frame, then hang up.
      await Promise.race([upP, new Promise((r) => timers.push(setTimeout(r, 5000)))]);
    } else if (first.end === "target-error") {
      await sendClose(CloseCode.InternalError, "Target connection failed");
    } else if (result.code === 0) {
      result.code = CloseCode.Abnormal;
      result.reason = "client connection lost";
    }
    stopAll();
  }
  await Promise.allSettled([upP, downP]);
  result.outcome = options.signal?.aborted
    ? "shutdown"
    : timedOut
    ? "timeout"
    : first.side === "down" && first.end === "target-eof"
    ? "target_closed"
    : first.side === "up" && (first.end === "close" || first.end === "client-eof")
    ? "client_closed"
    : "error";
  for (const t of timers) {
    clearInterval(t);
    clearTimeout(t);
  }
  options.signal?.removeEventListener("abort", onAbort);
  return result;
}

/** How long a client may keep sending after we closed for a protocol error. */
const LINGER_MS = 1000;

/** Reads and drops `stream`'s bytes until EOF, an error or `ms` pass. */
async function drain(stream: ByteStream, ms: number): Promise<void> {
  const buf = new Uint8Array(4096);
  const deadline = Date.now() + ms;
  const timer = setTimeout(() => stream.close(), ms);
  try {
    while (Date.now() < deadline && (await stream.read(buf)) !== null) { /* drop */ }
  } catch {
    /* closed by the timer or the peer */
  } finally {
    clearTimeout(timer);
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

/** Options for {@linkcode relayRaw}. */
export interface RawRelayOptions {
  signal?: AbortSignal;
}

/** Relays raw bytes both ways with half-close (native VNC viewers, bridges). */
export async function relayRaw(
  client: ByteStream,
  target: ByteStream,
  options: RawRelayOptions = {},
): Promise<RelayResult> {
  const result: RelayResult = { toTarget: 0, toClient: 0, code: 0, reason: "", outcome: "error" };
  let stopped = false;
  const stopAll = () => {
    if (stopped) return;
    stopped = true;
    client.close();
    target.close();
  };
  const copy = async (
    from: ByteStream,
    to: ByteStream,
    count: (n: number) => void,
  ): Promise<boolean> => {
    let buf = new Uint8Array(INITIAL_BUFFER);
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        await to.writeAll(buf.subarray(0, n));
        count(n);
        const size = nextBufferSize(buf.length, n);
        if (size !== buf.length) buf = new Uint8Array(size);
      }
      await to.closeWrite();
      return true;
    } catch {
      stopAll();
      return false;
    }
  };
  const onAbort = () => {
    result.reason = "Going away";
    stopAll();
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const [a, b] = await Promise.all([
    copy(client, target, (n) => result.toTarget += n),
    copy(target, client, (n) => result.toClient += n),
  ]);
  stopAll();
  options.signal?.removeEventListener("abort", onAbort);
  if (!result.reason) result.reason = a && b ? "both sides closed" : "connection lost";
  result.outcome = options.signal?.aborted ? "shutdown" : a && b ? "client_closed" : "error";
  return result;
}
