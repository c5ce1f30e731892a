/**
 * The test's end of a relay session, shared by the relay engine's tests:
 * a WebSocket peer played by hand on in-memory streams, and the session
 * setup on memory pairs.
 */
import { memoryPair, type MemoryStream } from "../../src/net/memory_stream.ts";
import type { ByteStream } from "../../src/net/stream.ts";
import { encodeFrame, FrameDecoder, type FrameEvent, Opcode } from "../../src/ws/frame.ts";
import {
  type RelayResult,
  relayWebSocket,
  relayWebSocketClient,
  type WsRelayOptions,
} from "../../src/ws/relay.ts";

export const enc: TextEncoder = new TextEncoder();
export const dec: TextDecoder = new TextDecoder();

/** One event the test's WebSocket peer received, copied. */
export type Got =
  | { kind: "data"; text: string }
  | { kind: "ping" | "pong" }
  | { kind: "close"; code: number; reason: string };

/** The test's end of the WebSocket: sends frames (masked when it plays the client), decodes the relay's. */
export class Peer {
  readonly stream: MemoryStream;
  readonly #masked: boolean;
  readonly #decoder: FrameDecoder;
  readonly #buf = new Uint8Array(65536);
  readonly #events: Got[] = [];
  /** Mask keys of the frames received (client role: each must be fresh). */
  readonly keys: string[] = [];

  constructor(stream: MemoryStream, playsClient: boolean) {
    this.stream = stream;
    this.#masked = playsClient;
    this.#decoder = new FrameDecoder({ expectMasked: !playsClient });
  }

  send(opcode: number, payload: Uint8Array, fin = true): Promise<void> {
    const mask = this.#masked ? crypto.getRandomValues(new Uint8Array(4)) : undefined;
    return this.stream.writeAll(encodeFrame(opcode, payload, { mask, fin }));
  }

  sendText(text: string): Promise<void> {
    return this.send(Opcode.Binary, enc.encode(text));
  }

  /** The next event, or null at EOF. */
  async next(): Promise<Got | null> {
    while (this.#events.length === 0) {
      let n: number | null;
      try {
        n = await this.stream.read(this.#buf);
      } catch {
        return null;
      }
      if (n === null) return null;
      const chunk = this.#buf.subarray(0, n);
      this.#noteKeys(chunk);
      this.#decoder.push(chunk);
      for (let ev = this.#decoder.next(); ev !== null; ev = this.#decoder.next()) {
        this.#events.push(copy(ev));
      }
    }
    return this.#events.shift()!;
  }

  /** Events until the close frame (inclusive) or EOF. */
  async untilClose(): Promise<Got[]> {
    const out: Got[] = [];
    for (let ev = await this.next(); ev !== null; ev = await this.next()) {
      out.push(ev);
      if (ev.kind === "close") break;
    }
    return out;
  }

  /** Records the mask key of every frame that starts a chunk (the relay writes one frame per write). */
  #noteKeys(chunk: Uint8Array): void {
    if (chunk.length < 2 || (chunk[1] & 0x80) === 0) return;
    const len7 = chunk[1] & 0x7f;
    const at = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0);
    this.keys.push([...chunk.subarray(at, at + 4)].join("."));
  }
}

function copy(ev: FrameEvent): Got {
  if (ev.kind === "data") return { kind: "data", text: dec.decode(ev.bytes) };
  if (ev.kind === "close") return { kind: "close", code: ev.code, reason: ev.reason };
  return { kind: ev.kind };
}

/**
 * A session in `role` on memory pairs: `peer` is the test's WebSocket end,
 * `plain` its plain end; `capacity` bounds what each pair buffers per direction.
 */
export function session(
  role: "server" | "client",
  options: WsRelayOptions = {},
  capacity?: { peer?: number; plain?: number },
) {
  const server = role === "server";
  const [clientSide, clientRelay] = memoryPair({
    names: ["test client", "client"],
    capacity: server ? capacity?.peer : capacity?.plain,
  });
  const [targetRelay, targetSide] = memoryPair({
    names: ["target", "test target"],
    capacity: server ? capacity?.plain : capacity?.peer,
  });
  const done: Promise<RelayResult> = server
    ? relayWebSocket(clientRelay, targetRelay, options)
    : relayWebSocketClient(clientRelay, targetRelay, options);
  return {
    peer: new Peer(server ? clientSide : targetSide, server),
    plain: server ? targetSide : clientSide,
    relayStreams: { client: clientRelay, target: targetRelay },
    done,
  };
}

/** A stream whose writes fail (a reset connection) while reads wait. */
export function failingWrites(inner: ByteStream): ByteStream {
  return {
    peer: inner.peer,
    read: (b) => inner.read(b),
    writeAll: () => Promise.reject(new Error("connection reset")),
    closeWrite: () => inner.closeWrite(),
    close: () => inner.close(),
  };
}
