/**
 * The bridge's hot path: bytes between a local stream (a VNC viewer's TCP
 * connection, a unix socket or stdio) and a WebSocket server, as the
 * client side of RFC 6455. Each local read becomes one binary frame, masked
 * with a fresh random key into the read buffer itself, header in front, so
 * one write sends it. Backpressure comes from awaiting every write before
 * the next read.
 *
 * Endings (every path closes both streams; nothing is left open):
 * - local EOF → close 1000 sent; server data still reaches the local side
 *   until the server's close reply arrives (or `closeWaitMs` passes);
 * - local error → close 1001 sent, brief wait for the reply;
 * - server close frame → echoed, local stream closed;
 * - server EOF without close, server error, protocol error, ping timeout,
 *   shutdown → the other side closed at once (with a close frame when the
 *   server is still reachable).
 * @module
 */
import type { ByteStream } from "../net/stream.ts";
import { firstEnd, RELAY_BUFFER, SerialWriter } from "../ws/relay.ts";
import {
  CloseCode,
  closePayload,
  encodeFrame,
  FrameDecoder,
  maskInPlace,
  Opcode,
  writeHeaderBefore,
  WsProtocolError,
} from "../ws/frame.ts";

/** Room for the largest client frame header: 2 + 8 length + 4 mask. */
const MAX_CLIENT_HEADER = 14;

/** Options for {@linkcode relayBridge}. */
export interface BridgeRelayOptions {
  /** Server bytes already read after the 101 head. */
  leftover?: Uint8Array;
  /** Send a ping every N seconds (`--ping-interval`); 0 = never. */
  pingInterval?: number;
  /** Close when nothing came back N seconds after a ping (`--ping-timeout`). */
  pingTimeout?: number;
  /** How long to wait for the server's close reply (default 2000 ms). */
  closeWaitMs?: number;
  /** Aborting closes with 1001 "Going away" (shutdown). */
  signal?: AbortSignal;
  /** A local read started before the relay (while the WebSocket opened): its result comes first. */
  pendingRead?: PendingRead;
}

/** A read already under way: `result` is the count read into `buf` (null at EOF). */
export interface PendingRead {
  buf: Uint8Array;
  result: Promise<number | null>;
}

/** How a bridge session ended, for its log line. */
export interface BridgeRelayResult {
  /** Bytes from the local side to the server. */
  toServer: number;
  /** Bytes from the server to the local side. */
  toLocal: number;
  /** Close code sent or received (1006 when the connection just dropped). */
  code: number;
  /** How it ended, in words. */
  reason: string;
}

type UpEnd = "local-eof" | "local-error" | "ws-error" | "stopped";
type DownEnd = "close" | "protocol" | "ws-eof" | "ws-error" | "stopped";

function randomMask(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(4));
}

/** Relays until either side ends; never throws. Closes both streams before resolving. */
export async function relayBridge(
  local: ByteStream,
  ws: ByteStream,
  options: BridgeRelayOptions = {},
): Promise<BridgeRelayResult> {
  const writer = new SerialWriter(ws);
  const result: BridgeRelayResult = { toServer: 0, toLocal: 0, code: 0, reason: "" };
  const closeWaitMs = options.closeWaitMs ?? 2000;
  const timers: ReturnType<typeof setTimeout>[] = [];
  let closeSent = false;
  let closeReceived = false;
  let stopped = false;
  let lastHeard = Date.now();
  let downBlocked = false;
  let pongTimer: ReturnType<typeof setTimeout> | undefined;

  const setEnd = (code: number, reason: string) => {
    if (result.code === 0 && result.reason === "") {
      result.code = code;
      result.reason = reason;
    }
  };
  const sendControl = (opcode: number, payload: Uint8Array): Promise<void> =>
    writer.write(encodeFrame(opcode, payload, { mask: randomMask() })).catch(() => {});
  const sendClose = (code: number, reason: string): Promise<void> => {
    if (closeSent) return Promise.resolve();
    closeSent = true;
    return sendControl(Opcode.Close, closePayload(code, reason));
  };
  const stopAll = () => {
    if (stopped) return;
    stopped = true;
    local.close();
    ws.close();
  };
  const sleep = (ms: number) => new Promise<void>((r) => timers.push(setTimeout(r, ms)));

  const up = async (): Promise<UpEnd> => {
    const buf = new Uint8Array(MAX_CLIENT_HEADER + RELAY_BUFFER);
    const body = buf.subarray(MAX_CLIENT_HEADER);
    let pending = options.pendingRead;
    for (;;) {
      let n: number | null;
      try {
        if (pending) {
          n = await pending.result;
          if (n !== null) body.set(pending.buf.subarray(0, n));
          pending = undefined;
        } else {
          n = await local.read(body);
        }
      } catch {
        return stopped ? "stopped" : "local-error";
      }
      if (n === null) return stopped ? "stopped" : "local-eof";
      if (n === 0) continue;
      if (closeSent) continue; // after our close nothing more may be sent (RFC 6455 §5.5.1)
      const mask = randomMask();
      const start = writeHeaderBefore(buf, MAX_CLIENT_HEADER, Opcode.Binary, n, { mask });
      maskInPlace(body.subarray(0, n), mask, 0);
      try {
        await writer.write(buf.subarray(start, MAX_CLIENT_HEADER + n));
      } catch {
        return stopped ? "stopped" : "ws-error";
      }
      result.toServer += n;
    }
  };

  const down = async (): Promise<DownEnd> => {
    const decoder = new FrameDecoder({ expectMasked: false });
    const buf = new Uint8Array(RELAY_BUFFER);
    let chunk: Uint8Array | undefined = options.leftover?.length ? options.leftover : undefined;
    let localOk = true;
    try {
      for (;;) {
        if (!chunk) {
          let n: number | null;
          try {
            n = await ws.read(buf);
          } catch {
            return stopped ? "stopped" : "ws-error";
          }
          if (n === null) return stopped ? "stopped" : "ws-eof";
          lastHeard = Date.now();
          chunk = buf.subarray(0, n);
        }
        decoder.push(chunk);
        chunk = undefined;
        for (let ev = decoder.next(); ev !== null; ev = decoder.next()) {
          if (ev.kind === "data") {
            if (ev.bytes.length === 0 || !localOk) continue;
            downBlocked = true;
            try {
              await local.writeAll(ev.bytes);
              result.toLocal += ev.bytes.length;
            } catch {
              // The local side is gone: tell the server, keep reading for its reply.
              localOk = false;
              setEnd(CloseCode.GoingAway, "local connection lost");
              void sendClose(CloseCode.GoingAway, "client connection lost");
              local.close();
            } finally {
              downBlocked = false;
            }
          } else if (ev.kind === "ping") {
            if (!closeSent) await sendControl(Opcode.Pong, ev.payload);
          } else if (ev.kind === "close") {
            closeReceived = true;
            setEnd(
              ev.code,
              closeSent ? "closed" : `server closed${ev.reason ? `: ${ev.reason}` : ""}`,
            );
            // Echo the code (RFC 6455 §5.5.1); 1005 means none was given.
            await sendClose(ev.code === CloseCode.NoStatus ? CloseCode.Normal : ev.code, "");
            return "close";
          }
          // Pongs only prove liveness, which lastHeard already records.
        }
      }
    } catch (e) {
      if (e instanceof WsProtocolError) {
        setEnd(e.code, `server broke the protocol: ${e.message}`);
        await sendClose(e.code, e.message);
        return "protocol";
      }
      return stopped ? "stopped" : "ws-error";
    }
  };

  if (options.pingInterval && options.pingInterval > 0) {
    const interval = options.pingInterval * 1000;
    const timeout = (options.pingTimeout ?? 0) * 1000;
    timers.push(setInterval(() => {
      if (closeSent || stopped) return;
      const sentAt = Date.now();
      void sendControl(Opcode.Ping, new Uint8Array(0));
      // One deadline at a time, counted from the oldest unanswered ping.
      if (timeout > 0 && pongTimer === undefined) {
        pongTimer = setTimeout(() => {
          pongTimer = undefined;
          // A server we are not reading from (slow local side) cannot be blamed.
          if (stopped || closeSent || lastHeard >= sentAt || downBlocked) return;
          setEnd(CloseCode.GoingAway, `no answer to a ping within ${options.pingTimeout}s`);
          void sendClose(CloseCode.GoingAway, "ping timeout").finally(stopAll);
        }, timeout);
      }
    }, interval));
  }
  const onAbort = () => {
    setEnd(CloseCode.GoingAway, "bridge shutting down");
    void sendClose(CloseCode.GoingAway, "Going away").finally(stopAll);
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) onAbort();

  const upP = up();
  const downP = down();
  const first = await firstEnd(upP, downP);
  if (first.side === "up") {
    if (first.end === "local-eof" || first.end === "local-error") {
      if (first.end === "local-eof") {
        setEnd(CloseCode.Normal, "local side closed");
        await sendClose(CloseCode.Normal, "");
      } else {
        setEnd(CloseCode.GoingAway, "local connection lost");
        await sendClose(CloseCode.GoingAway, "client connection lost");
      }
      // Server data may still arrive for the local side until the server's close.
      await Promise.race([downP, sleep(closeWaitMs)]);
      if (!closeReceived && result.reason === "local side closed") {
        result.reason = "local side closed; no close reply from the server";
      }
    } else if (first.end === "ws-error") {
      setEnd(CloseCode.Abnormal, "server connection lost");
    }
  } else {
    if (first.end === "ws-eof") {
      setEnd(CloseCode.Abnormal, "server closed the connection without a close frame");
    } else if (first.end === "ws-error") {
      setEnd(CloseCode.Abnormal, "server connection lost");
    } else if (first.end === "close") {
      // Let the local side see a clean end of stream after the last bytes.
      await local.closeWrite();
    }
  }
  stopAll();
  await Promise.allSettled([upP, downP]);
  for (const t of timers) {
    clearInterval(t);
    clearTimeout(t);
  }
  clearTimeout(pongTimer);
  options.signal?.removeEventListener("abort", onAbort);
  return result;
}
