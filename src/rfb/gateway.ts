/**
 * The viewer's side of the RFB gateway: a {@linkcode ByteStream} that stands
 * where the VNC server's stream stood and plays an RFB 3.8 server offering
 * security type None (viewers speaking 3.3 and 3.7 are served too), over a
 * server stream vncws has already authenticated (client_handshake.ts). The
 * viewer's ClientInit goes on to the server, whose real ServerInit comes
 * back untouched; from then on every read and write goes straight to the
 * server stream. The relay engine above it sees one more stream, so raw and
 * WebSocket sessions alike get the gateway without knowing.
 *
 * When vncws could not authenticate, the same stream plays a server that
 * refuses: the viewer reads the reason as an RFB failure (3.7/3.8: zero
 * security types and the reason; 3.3: type 0 and the reason) and the end of
 * the stream. A viewer that has not got that far within the failure bound
 * (`failureTimeoutMs`, vncws's `--head-timeout`) has its session ended: the
 * gateway's read fails, and the relay closes both sides. Without it a silent
 * viewer would hold its connection slot for as long as it liked.
 * @module
 */
import { concatBytes, u32be } from "../base/bytes.ts";
import type { ByteStream } from "../net/stream.ts";
import { parseVersion, SECURITY_NONE, SERVER_VERSION, VERSION_BYTES } from "./handshake.ts";

const encoder = new TextEncoder();

/** Options for {@linkcode RfbGatewayStream}. */
export interface RfbGatewayOptions {
  /**
   * With a failure: ms the viewer has to send its version and read the
   * refusal; after that the session ends. Absent or 0: no bound.
   */
  failureTimeoutMs?: number;
}

/** Where the viewer's side of the handshake stands. */
type Phase = "version" | "security" | "clientInit" | "through" | "ended";

/**
 * The server stream as the viewer should see it. `server` is the
 * authenticated stream; with `failure` instead, the viewer is refused with
 * that reason.
 */
export class RfbGatewayStream implements ByteStream {
  #server: ByteStream;
  #failure?: string;
  #phase: Phase = "version";
  #minor: 3 | 7 | 8 = 8;
  /** Bytes for the viewer that the gateway itself speaks. */
  #out: Uint8Array[] = [encoder.encode(SERVER_VERSION)];
  /** Viewer bytes not parsed yet. */
  #in: Uint8Array = new Uint8Array(0);
  #wake?: () => void;
  /** Set when the failure bound passed: reads throw it. */
  #expired?: Error;
  #timer?: ReturnType<typeof setTimeout>;

  /**
   * Plays the server over `server`; with `failure`, refuses the viewer with
   * it (and `server` is only closed at the end).
   */
  constructor(server: ByteStream, failure?: string, options: RfbGatewayOptions = {}) {
    this.#server = server;
    this.#failure = failure;
    const ms = options.failureTimeoutMs ?? 0;
    if (failure !== undefined && ms > 0) this.#timer = setTimeout(() => this.#expire(ms), ms);
  }

  /** The server's address, as the plain stream's. */
  get peer(): string {
    return this.#server.peer;
  }
  /** The server connection's local address. */
  get local(): string | undefined {
    return this.#server.local;
  }

  /** Whether the handshake is over and bytes pass straight through. */
  get through(): boolean {
    return this.#phase === "through";
  }

  async read(buf: Uint8Array): Promise<number | null> {
    for (;;) {
      if (this.#out.length > 0) return this.#give(buf);
      if (this.#expired) throw this.#expired;
      if (this.#phase === "through") return await this.#server.read(buf);
      if (this.#phase === "ended") return null;
      await new Promise<void>((r) => this.#wake = r);
    }
  }

  async writeAll(data: Uint8Array): Promise<void> {
    if (this.#phase === "through") return await this.#server.writeAll(data);
    if (this.#phase === "ended") return; // the viewer was refused: its bytes go nowhere
    this.#in = this.#in.length ? concatBytes([this.#in, data]) : data.slice();
    await this.#advance();
  }

  closeWrite(): Promise<void> {
    if (this.#phase !== "through") this.#end();
    return this.#server.closeWrite();
  }

  close(): void {
    this.#end();
    this.#server.close();
  }

  /** Hands queued gateway bytes to a read. */
  #give(buf: Uint8Array): number {
    const head = this.#out[0];
    const n = Math.min(head.length, buf.length);
    buf.set(head.subarray(0, n));
    if (n === head.length) this.#out.shift();
    else this.#out[0] = head.subarray(n);
    return n;
  }

  #say(bytes: Uint8Array): void {
    this.#out.push(bytes);
    this.#notify();
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  #end(): void {
    clearTimeout(this.#timer);
    if (this.#phase === "through" || this.#phase === "ended") return;
    this.#phase = "ended";
    this.#notify();
  }

  /** The failure bound passed before the viewer read its refusal: the session ends. */
  #expire(ms: number): void {
    if (this.#phase === "through" || this.#phase === "ended") return;
    this.#expired = new Error(
      `the viewer did not finish the RFB handshake within ${ms / 1000}s`,
    );
    this.#end();
  }

  /** Takes `n` parsed viewer bytes, or undefined while fewer are there. */
  #take(n: number): Uint8Array | undefined {
    if (this.#in.length < n) return undefined;
    const out = this.#in.subarray(0, n);
    this.#in = this.#in.subarray(n);
    return out;
  }

  /** Parses what the viewer sent so far and answers it. */
  async #advance(): Promise<void> {
    if (this.#phase === "version") {
      const version = this.#take(VERSION_BYTES);
      if (!version) return;
      const minor = parseVersion(version);
      if (minor === undefined) return this.#end(); // not an RFB viewer: nothing to say
      this.#minor = minor;
      if (this.#failure !== undefined) return this.#refuse(this.#failure);
      if (minor === 3) {
        this.#say(u32be(SECURITY_NONE)); // 3.3: the server picks the type
        this.#phase = "clientInit";
      } else {
        this.#say(new Uint8Array([1, SECURITY_NONE]));
        this.#phase = "security";
      }
    }
    if (this.#phase === "security") {
      const chosen = this.#take(1);
      if (!chosen) return;
      if (chosen[0] !== SECURITY_NONE) {
        return this.#refuse(`vncws offers security type None only, the viewer chose ${chosen[0]}`);
      }
      if (this.#minor === 8) this.#say(u32be(0)); // SecurityResult OK
      this.#phase = "clientInit";
    }
    if (this.#phase === "clientInit" && this.#in.length > 0) {
      // ClientInit, and anything the viewer sent after it, go to the server.
      const rest = this.#in;
      this.#in = new Uint8Array(0);
      this.#phase = "through";
      this.#notify();
      await this.#server.writeAll(rest);
    }
  }

  /** Refuses the viewer with `reason` as its version allows, then ends. */
  #refuse(reason: string): void {
    const text = encoder.encode(reason);
    if (this.#phase === "security") {
      // After the types were offered, only a 3.8 SecurityResult can carry a reason.
      if (this.#minor === 8) this.#say(concatBytes([u32be(1), u32be(text.length), text]));
    } else {
      // 3.3: security type 0; 3.7/3.8: zero types; both followed by the reason.
      const head = this.#minor === 3 ? u32be(0) : new Uint8Array([0]);
      this.#say(concatBytes([head, u32be(text.length), text]));
    }
    this.#end();
  }
}
