/**
 * The WebSocket roles of the relay engine. One side of the session is the
 * WebSocket peer (frames), the other plain bytes:
 * - server role (the proxy): the client is the peer; its frames must be
 *   masked, ours are not;
 * - client role (the bridge): the target is the peer (a WebSocket server);
 *   its frames must not be masked, ours are, each with a fresh key.
 *
 * Two pumps per session. The decode pump reads the peer's frames and
 * writes their payloads to the plain side: the payloads of all frames in
 * one read go in one write (moved together over the headers between
 * them). The encode pump reads the plain side into a buffer with room in
 * front and writes each read as one binary frame, header (and mask) in
 * front, in one write. Control frames: pings are answered, the peer's
 * close is echoed, ours is sent once. Endings are in {@linkcode FramedRelay.run}.
 * @module
 */
import type { ByteStream } from "../net/stream.ts";
import {
  CloseCode,
  closePayload,
  encodeFrame,
  FrameDecoder,
  maskInPlace,
  MAX_SERVER_HEADER,
  Opcode,
  writeHeaderBefore,
  WsProtocolError,
} from "./frame.ts";
import {
  CLOSE_GRACE_MS,
  CloseRequest,
  firstEnd,
  HALF_CLOSE_IDLE_MS,
  INITIAL_BUFFER,
  nextBufferSize,
  RelayCore,
  type RelayResult,
  SerialWriter,
  TRAFFIC,
  type WsRelayOptions,
} from "./relay_core.ts";
import { type FramedRole, type RoleRules, ROLES } from "./relay_roles.ts";
import { giveSlab, SLAB_BYTES, takeSlab } from "./unmask.ts";

/** Header options of the server role: shared, never written to. */
const NO_MASK: { mask?: Uint8Array } = Object.freeze({});

/** Room for the largest client frame header: 2 + 8 length + 4 mask. */
const MAX_CLIENT_HEADER = 14;

type DecodeEnd = "close" | "protocol" | "peer-eof" | "peer-error" | "plain-error" | "stopped";
type EncodeEnd = "plain-eof" | "plain-error" | "peer-error" | "stopped";

/** A WebSocket relay session in the server or the client role. */
export class FramedRelay extends RelayCore {
  readonly #rules: RoleRules;
  /** The stream that carries frames, and the one that carries plain bytes. */
  readonly #peer: ByteStream;
  readonly #plain: ByteStream;
  /** The decode pump moves bytes toward the target (server role) or the client. */
  readonly #decodeUp: boolean;
  readonly #writer: SerialWriter;
  /** Our close frame's write, bounded by {@linkcode CLOSE_GRACE_MS}; set once. */
  #closeWrite?: Promise<void>;
  #closeReceived = false;
  /** When bytes last came from the peer (ms since the epoch): proof of life for the ping timeout. */
  #lastHeard = Date.now();
  /** The decode pump waits on the plain side: the peer is not being read, so not blamed. */
  #blocked = false;
  /** A ping timeout's deadline is armed (one at a time). */
  #pongArmed = false;
  /**
   * A reused mask key (client role only) and header options: no allocation
   * per frame; none at all per idle server-role session.
   */
  readonly #mask?: Uint8Array;
  readonly #headerOptions: { mask?: Uint8Array };

  /** A session between `client` and `target` in `role`. */
  constructor(
    client: ByteStream,
    target: ByteStream,
    role: FramedRole,
    options: WsRelayOptions,
  ) {
    super(client, target, options);
    this.#rules = ROLES[role];
    const peerIsClient = this.#rules.peer === "client";
    this.#peer = peerIsClient ? client : target;
    this.#plain = peerIsClient ? target : client;
    this.#decodeUp = peerIsClient;
    this.#writer = new SerialWriter(this.#peer);
    if (this.#rules.mask) this.#mask = new Uint8Array(4);
    this.#headerOptions = this.#mask ? { mask: this.#mask } : NO_MASK;
  }

  /** Sends a control frame (masked in the client role); never rejects. */
  #sendControl(opcode: number, payload: Uint8Array): Promise<void> {
    const options = this.#rules.mask ? { mask: crypto.getRandomValues(new Uint8Array(4)) } : {};
    return this.#writer.write(encodeFrame(opcode, payload, options)).catch(() => {});
  }

  /**
   * Sends our close frame once; later calls get the first one's promise. It
   * resolves once the frame is written or after {@linkcode CLOSE_GRACE_MS}:
   * a peer that stopped reading leaves it queued behind a blocked write.
   */
  #sendClose(code: number, reason: string): Promise<void> {
    if (!this.#closeWrite) {
      const write = this.#sendControl(Opcode.Close, closePayload(code, reason));
      this.#closeWrite = this.race(write, CLOSE_GRACE_MS).then(() => {});
    }
    return this.#closeWrite;
  }

  /** Ends the session with a close frame, then closes both streams (timeouts, shutdown). */
  #closeNow(code: number, sent: string, reason: string): void {
    this.setEnd(code, reason);
    void this.#sendClose(code, sent).then(() => this.stopAll());
  }

  /** Relays until either side ends; never throws. Both streams are closed when it resolves. */
  async run(): Promise<RelayResult> {
    const text = this.#rules.text;
    this.#startHeartbeat();
    this.watch(
      () => this.#closeNow(CloseCode.GoingAway, "idle timeout", "idle timeout"),
      () => {
        const asked = this.options.signal?.reason;
        if (asked instanceof CloseRequest) this.#closeNow(asked.code, asked.reason, asked.reason);
        else this.#closeNow(CloseCode.GoingAway, "Going away", text.shutdown);
      },
    );
    const decodeP = this.#decodePump();
    const encodeP = this.#encodePump();
    let cleanEnd: "client_closed" | "target_closed" | undefined;
    try {
      cleanEnd = await this.#end(decodeP, encodeP);
    } finally {
      // Whatever happened: both streams closed, the pumps done, every timer cleared.
      this.stopAll();
      await Promise.allSettled([decodeP, encodeP]);
      this.finish(cleanEnd); // clears every timer, the ping timeout's too
    }
    return this.result;
  }

  /** Ends the session the way its first ending pump calls for; returns a clean end's side. */
  async #end(
    decodeP: Promise<DecodeEnd>,
    encodeP: Promise<EncodeEnd>,
  ): Promise<"client_closed" | "target_closed" | undefined> {
    const rules = this.#rules;
    const text = rules.text;
    const closeWaitMs = this.options.closeWaitMs ?? rules.closeWaitMs;
    const first = await firstEnd(decodeP, encodeP);
    let clean = false;
    if (first.side === "up") {
      const end = first.end;
      if (end === "close") {
        clean = true;
        await this.#plain.closeWrite(); // a clean end of stream after the last bytes
      } else if (end === "protocol") {
        // Closing a socket with unread input makes the kernel send RST, which can
        // destroy our close frame before the peer reads it: stop the plain side,
        // then read and drop the peer's bytes for a moment first.
        this.#plain.close();
        if (rules.lingerMs > 0) await drain(this.#peer, rules.lingerMs);
      } else if (end === "peer-eof") {
        // The peer half-closed without a close frame: let the plain side finish,
        // but end once it has been silent for HALF_CLOSE_IDLE_MS (one that ignores
        // the EOF held the session forever).
        clean = true;
        this.setEnd(CloseCode.Abnormal, text.peerEof);
        await this.#plain.closeWrite();
        let e: EncodeEnd | undefined;
        encodeP.then((end) => e = end);
        this.clock = true; // the encode pump now records its reads' times
        this.lastActivity = Date.now();
        for (;;) {
          const left = HALF_CLOSE_IDLE_MS - (Date.now() - this.lastActivity);
          if (e !== undefined || left <= 0) break;
          await this.race(encodeP, left);
        }
        if (e === "plain-eof") await this.#sendClose(CloseCode.Normal, text.plainEof[0]);
      } else if (end === "plain-error") {
        const [code, sent, reason] = text.plainWriteError;
        this.setEnd(code, reason);
        if (rules.awaitReplyOnWriteError) {
          // As after a protocol error: the peer may still be sending, and a
          // close with unread input (RST) can destroy our close frame.
          this.#plain.close();
          await this.#sendClose(code, sent);
          await drain(this.#peer, closeWaitMs);
        } else {
          await this.#sendClose(code, sent);
        }
      } else {
        this.setEnd(CloseCode.Abnormal, text.peerLost);
      }
    } else {
      const end = first.end;
      if (end === "plain-eof" || end === "plain-error") {
        // Close, and let what the peer still sends reach the plain side until its reply.
        clean = end === "plain-eof";
        const [code, sent, reason] = clean
          ? [CloseCode.Normal, ...text.plainEof] as const
          : text.plainReadError;
        this.setEnd(code, reason);
        await this.race(this.#sendClose(code, sent).then(() => decodeP), closeWaitMs);
        if (clean && text.noReply && !this.#closeReceived && this.result.reason === reason) {
          this.result.reason += text.noReply;
        }
      } else {
        this.setEnd(CloseCode.Abnormal, text.peerLost);
      }
    }
    if (!clean) return undefined;
    // A clean end is credited to the side that ended: the decode pump reads the peer.
    const peerEnded = first.side === "up";
    return peerEnded === (rules.peer === "client") ? "client_closed" : "target_closed";
  }

  /**
   * Pings every `heartbeat` seconds. With a ping timeout, the peer has that
   * long after a ping to send anything (a pong, data, any bytes): counted from
   * the oldest unanswered ping, one deadline at a time, and not while the
   * decode pump waits on the plain side (the peer's answer may be unread behind it).
   */
  #startHeartbeat(): void {
    const heartbeat = this.options.heartbeat;
    if (!heartbeat || heartbeat <= 0) return;
    const timeout = (this.options.pingTimeout ?? 0) * 1000;
    this.every(heartbeat * 1000, () => {
      if (this.#closeWrite || this.stopped) return;
      const sentAt = Date.now();
      void this.#sendControl(Opcode.Ping, new Uint8Array(0));
      if (timeout <= 0 || this.#pongArmed) return;
      // One at a time (a deadline per ping would pile up); cleared by finish().
      this.#pongArmed = true;
      this.after(timeout, () => {
        this.#pongArmed = false;
        if (this.stopped || this.#closeWrite || this.#lastHeard >= sentAt || this.#blocked) return;
        this.timedOut = true;
        this.#closeNow(
          CloseCode.GoingAway,
          "ping timeout",
          this.#rules.text.pingTimeout(this.options.pingTimeout!),
        );
      });
    });
  }

  /** Peer frames → plain bytes, until a close frame, an error or EOF. */
  async #decodePump(): Promise<DecodeEnd> {
    const peer = this.#peer;
    const plain = this.#plain;
    const up = this.#decodeUp;
    const { traffic, record, leftover, maxMessageBytes } = this.options;
    const clock = this.clock; // only the half-close wait turns it on, after this pump ended
    const readSymbol = up ? TRAFFIC.upRead : TRAFFIC.downRead;
    const writtenSymbol = up ? TRAFFIC.upWritten : TRAFFIC.downWritten;
    const copy = record && (up ? record.fromClient : record.toClient);
    const result = this.result;
    const masked = this.#rules.expectMasked;
    const decoder = new FrameDecoder({ expectMasked: masked, maxMessageBytes });
    let buf = new Uint8Array(INITIAL_BUFFER);
    let chunk: Uint8Array | undefined = leftover?.length ? leftover : undefined;
    let current: Uint8Array = new Uint8Array(0);
    let pendStart = -1;
    let pendEnd = -1;
    /** Writes the collected payload bytes; false when the plain side failed. */
    const flush = async (): Promise<boolean> => {
      if (pendEnd < 0) return true;
      const bytes = current.subarray(pendStart, pendEnd);
      pendStart = pendEnd = -1;
      this.#blocked = true;
      try {
        await plain.writeAll(bytes);
      } catch {
        return false;
      } finally {
        this.#blocked = false;
      }
      if (traffic) traffic(writtenSymbol);
      if (up) result.toTarget += bytes.length;
      else result.toClient += bytes.length;
      return true;
    };
    try {
      for (;;) {
        if (!chunk) {
          let n: number | null;
          try {
            n = await peer.read(buf);
          } catch {
            return this.stopped ? "stopped" : "peer-error";
          }
          if (n === null) return this.stopped ? "stopped" : "peer-eof";
          if (clock) this.#lastHeard = Date.now();
          chunk = buf.subarray(0, n);
          // The decoder is done with the old buffer once this chunk is consumed.
          const size = nextBufferSize(buf.length, n);
          if (size !== buf.length) {
            // Masked bulk input reads into the SIMD module's memory when a
            // slab is free: unmasked there without a copy in or out.
            const slab = masked && size === SLAB_BYTES ? takeSlab() : undefined;
            buf = slab ?? new Uint8Array(size);
          }
        }
        decoder.push(chunk);
        current = chunk;
        chunk = undefined;
        for (let ev = decoder.next(); ev !== null; ev = decoder.next()) {
          if (ev.kind === "data") {
            const len = ev.bytes.length;
            if (len === 0) continue;
            if (clock) this.lastActivity = this.#lastHeard;
            if (traffic) traffic(readSymbol);
            if (copy) copy.call(record, ev.bytes);
            // Payloads of consecutive frames in one read are moved together
            // over the frame headers between them: one plain write per read.
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
          if (!(await flush())) return this.stopped ? "stopped" : "plain-error";
          if (ev.kind === "ping") {
            if (!this.#closeWrite) await this.#sendControl(Opcode.Pong, ev.payload);
          } else if (ev.kind === "close") {
            // Echo the code and reason (RFC 6455 §5.5.1) unless ours went first.
            this.#closeReceived = true;
            this.setEnd(ev.code, this.#rules.text.peerClosed(ev.reason));
            const echo = ev.code === CloseCode.NoStatus ? CloseCode.Normal : ev.code;
            await this.#sendClose(echo, ev.reason);
            return "close";
          }
          // A pong only proves liveness, which #lastHeard already records.
        }
        if (!(await flush())) return this.stopped ? "stopped" : "plain-error";
      }
    } catch (e) {
      if (e instanceof WsProtocolError) {
        await flush(); // what arrived before the violation still goes through
        this.setEnd(e.code, this.#rules.text.protocol(e.message));
        await this.#sendClose(e.code, e.message);
        return "protocol";
      }
      return this.stopped ? "stopped" : "peer-error";
    } finally {
      // Every read and write on it has settled: a lent slab goes back.
      giveSlab(buf);
    }
  }

  /** Plain bytes → one binary frame per read, until EOF or an error. */
  async #encodePump(): Promise<EncodeEnd> {
    const plain = this.#plain;
    const writer = this.#writer;
    const up = !this.#decodeUp;
    const { traffic, record } = this.options;
    const readSymbol = up ? TRAFFIC.upRead : TRAFFIC.downRead;
    const writtenSymbol = up ? TRAFFIC.upWritten : TRAFFIC.downWritten;
    const copy = record && (up ? record.fromClient : record.toClient);
    const result = this.result;
    const mask = this.#mask;
    const headerOptions = this.#headerOptions;
    const room = mask ? MAX_CLIENT_HEADER : MAX_SERVER_HEADER;
    let buf = new Uint8Array(room + INITIAL_BUFFER);
    let body = buf.subarray(room);
    for (;;) {
      let n: number | null;
      try {
        n = await plain.read(body);
      } catch {
        return this.stopped ? "stopped" : "plain-error";
      }
      if (n === null) return this.stopped ? "stopped" : "plain-eof";
      if (n === 0 || this.#closeWrite) continue; // nothing may follow our close (RFC 6455 §5.5.1)
      if (this.clock) this.lastActivity = Date.now();
      if (traffic) traffic(readSymbol);
      if (copy) copy.call(record, body.subarray(0, n));
      if (mask) crypto.getRandomValues(mask);
      const start = writeHeaderBefore(buf, room, Opcode.Binary, n, headerOptions);
      if (mask) maskInPlace(body.subarray(0, n), mask, 0);
      try {
        await writer.write(buf.subarray(start, room + n));
      } catch {
        return this.stopped ? "stopped" : "peer-error";
      }
      if (traffic) traffic(writtenSymbol);
      if (up) result.toTarget += n;
      else result.toClient += n;
      const size = nextBufferSize(body.length, n);
      if (size !== body.length) {
        buf = new Uint8Array(room + size);
        body = buf.subarray(room);
      }
    }
  }
}

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
