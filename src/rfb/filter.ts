/**
 * The view-only and clipboard policy, enforced in the RFB streams: a
 * {@linkcode ByteStream} wrapped around the target's stream, so raw and
 * WebSocket sessions get it alike through the one relay. It follows the
 * handshake passively both ways (keeping the server's security types to the
 * ones it can follow, None and VncAuth), then frames the viewer's messages
 * (dropping input in view-only, clipboard text the policy forbids, and
 * asking the server only for encodings it can frame) and, when the
 * clipboard may not reach the viewer, frames the server's messages too and
 * drops ServerCutText. Anything it cannot frame ends the session with a
 * reason saying so, through {@linkcode RfbFilter.signal}.
 * @module
 */
import { logInfo, logWarn } from "../base/log.ts";
import type { ByteStream } from "../net/stream.ts";
import { CloseRequest } from "../ws/relay_core.ts";
import {
  clientMessageHeaderLength,
  clientMessageLength,
  ClientMessageType as C,
  QEMU_EXTENDED_KEY_EVENT,
} from "./client_messages.ts";
import { parsePixelFormat, type PixelFormat } from "./pixel_format.ts";
import { framesServerStream, type RfbPolicy } from "./policy.ts";
import { RfbProtocolError } from "./reader.ts";
import { ByteScanner, type HeadFate } from "./scanner.ts";
import { Encoding, isFramableEncoding, ServerMessageFramer } from "./server_messages.ts";

/** Kinds of dropped messages, the `kind` label of the drop counter. */
export type DropKind =
  | "key"
  | "pointer"
  | "client_cut_text"
  | "set_desktop_size"
  | "xvp"
  | "server_cut_text";

/** Security types the filter can follow: the bytes after them are plain RFB. */
const FOLLOWED_SECURITY = [1, 2]; // None, VncAuth

/** WebSocket close code of a session the filter ended (1008: policy violation). */
const CLOSE_POLICY = 1008;

/** What view-only drops, by client message type. */
const INPUT: ReadonlyMap<number, DropKind> = new Map<number, DropKind>([
  [C.KeyEvent, "key"],
  [C.PointerEvent, "pointer"],
  [C.ClientCutText, "client_cut_text"],
  [C.SetDesktopSize, "set_desktop_size"],
  [C.Xvp, "xvp"],
]);

/** The kind of viewer input a client message header is, or undefined for other messages. */
function viewerInput(head: Uint8Array): DropKind | undefined {
  if (head[0] === C.QemuClientMessage) {
    return head[1] === QEMU_EXTENDED_KEY_EVENT ? "key" : undefined;
  }
  return INPUT.get(head[0]);
}

/** True when `policy` needs the filter: view-only or a clipboard limit. */
export function needsRfbFilter(policy: RfbPolicy | undefined): policy is RfbPolicy {
  return policy !== undefined && (policy.viewOnly || policy.clipboard !== "both");
}

/** Options of {@linkcode RfbFilter}. */
export interface RfbFilterOptions {
  /** Called for every message dropped (the metric). */
  onDrop?: (kind: DropKind) => void;
  /** Fields of the session's log lines (client, target, token hash). */
  logFields?: Record<string, unknown>;
}

const encoder = new TextEncoder();

function u32be(n: number): Uint8Array {
  return new Uint8Array([n >>> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** The minor version of an RFB ProtocolVersion message; throws when it is not one. */
function protocolMinor(head: Uint8Array, side: string): number {
  const text = String.fromCharCode(...head);
  const m = /^RFB (\d{3})\.(\d{3})\n$/.exec(text);
  if (!m) throw new RfbProtocolError(`the ${side} did not start with an RFB ProtocolVersion`);
  const minor = Number(m[2]);
  return Number(m[1]) > 3 || minor >= 8 ? 8 : minor === 7 ? 7 : 3;
}

/** The target's stream with the session's RFB policy applied (see the module doc). */
export class RfbFilter implements ByteStream {
  readonly #inner: ByteStream;
  readonly #policy: RfbPolicy;
  readonly #options: RfbFilterOptions;
  readonly #abort = new AbortController();
  readonly #client = new ByteScanner();
  readonly #server = new ByteScanner();
  readonly #dropped = new Map<DropKind, number>();
  /** Minor version the viewer chose (3, 7 or 8); 0 until known. */
  #minor = 0;
  /** The security type in use; 0 until known. */
  #security = 0;
  #pixelFormat: PixelFormat | undefined;
  /** Server bytes go on unframed (after ServerInit when the server stream needs no framing). */
  #serverPass = false;
  #pending: Uint8Array | undefined;
  /** Set when the next read ends the session (the viewer was told why first). */
  #endNext: string | undefined;

  /** Wraps `inner`, the target's stream, enforcing `policy`. */
  constructor(inner: ByteStream, policy: RfbPolicy, options: RfbFilterOptions = {}) {
    this.#inner = inner;
    this.#policy = policy;
    this.#options = options;
    this.#client.collect(12, (h) => this.#clientVersion(h));
    this.#server.collect(12, (h) => {
      protocolMinor(h, "VNC server");
      this.#server.scan(() => this.#serverSecurity());
    });
  }

  /** Aborted with a `CloseRequest` when the filter ends the session; the relay's signal. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Dropped messages by kind, for the session's end line; undefined when none were. */
  dropped(): Record<string, number> | undefined {
    return this.#dropped.size > 0 ? Object.fromEntries(this.#dropped) : undefined;
  }

  get peer(): string {
    return this.#inner.peer;
  }
  get local(): string | undefined {
    return this.#inner.local;
  }

  async read(buf: Uint8Array): Promise<number | null> {
    if (this.#pending) return this.#fromPending(buf);
    if (this.#serverPass) return this.#inner.read(buf);
    for (;;) {
      if (this.#endNext !== undefined) throw this.#end(this.#endNext);
      const n = await this.#inner.read(buf);
      if (n === null) return null;
      let out: Uint8Array[];
      try {
        out = this.#server.push(buf.subarray(0, n));
      } catch (e) {
        throw this.#end(this.#unframable(e, "VNC server"));
      }
      if (out.length === 0) continue;
      const first = out[0];
      if (out.length === 1 && first.buffer === buf.buffer && first.byteOffset === buf.byteOffset) {
        return first.length;
      }
      this.#pending = concat(out).slice();
      return this.#fromPending(buf);
    }
  }

  async writeAll(data: Uint8Array): Promise<void> {
    let out: Uint8Array[];
    try {
      out = this.#client.push(data);
    } catch (e) {
      throw this.#end(this.#unframable(e, "viewer"));
    }
    if (out.length > 0) await this.#inner.writeAll(concat(out));
  }

  closeWrite(): Promise<void> {
    return this.#inner.closeWrite();
  }

  close(): void {
    this.#inner.close();
  }

  #fromPending(buf: Uint8Array): number {
    const p = this.#pending!;
    const n = Math.min(buf.length, p.length);
    buf.set(p.subarray(0, n));
    this.#pending = n < p.length ? p.subarray(n) : undefined;
    return n;
  }

  #unframable(e: unknown, side: string): string {
    const what = e instanceof Error ? e.message : String(e);
    const said = what.startsWith("a ")
      ? `the ${side} sent ${what}`
      : `the ${side}'s stream: ${what}`;
    return `${said}; the view-only/clipboard policy cannot be enforced on a stream vncws ` +
      `cannot frame, so the session ends`;
  }

  /** Ends the session with `reason`: logged, the relay told through the signal. */
  #end(reason: string): Error {
    if (!this.#abort.signal.aborted) {
      logWarn("rfb policy ended the session", { ...this.#options.logFields, reason });
      this.#abort.abort(new CloseRequest(CLOSE_POLICY, reason));
    }
    return new RfbProtocolError(reason);
  }

  #drop(kind: DropKind, why: string): "drop" {
    const n = (this.#dropped.get(kind) ?? 0) + 1;
    this.#dropped.set(kind, n);
    if (n === 1) logInfo("rfb message dropped", { ...this.#options.logFields, kind, why });
    this.#options.onDrop?.(kind);
    return "drop";
  }

  // --- the server's side of the handshake ---

  /** Security: the list (3.7+) or the chosen type (3.3), once the viewer's version is known. */
  #serverSecurity(): number {
    const s = this.#server;
    if (this.#minor >= 7) {
      s.collect(1, (count) => {
        if (count[0] === 0) return this.#serverFailure();
        s.collect(count[0], (types) => this.#securityList(types));
        return "drop"; // sent again with the list
      });
    } else {
      s.collect(4, (t) => {
        const type = (t[0] << 24) | (t[1] << 16) | (t[2] << 8) | t[3];
        if (type === 0) return this.#serverFailure();
        this.#security = type;
        if (!FOLLOWED_SECURITY.includes(type)) return this.#noSecurity([type], 3);
        s.scan(() => this.#afterSecurity());
      });
    }
    return 0;
  }

  /** The server refused (a reason string follows): nothing more to follow. */
  #serverFailure(): void {
    this.#server.collect(4, (l) => this.#serverPassAll(u32(l)));
  }

  #serverPassAll(skip = 0): void {
    this.#server.skip(skip, true, () => this.#server.skip(Infinity, true, () => {}));
  }

  #securityList(types: Uint8Array): HeadFate {
    const kept = [...types].filter((t) => FOLLOWED_SECURITY.includes(t));
    if (kept.length === 0) return this.#noSecurity([...types], 7);
    this.#server.scan(() => this.#afterSecurity());
    return new Uint8Array([kept.length, ...kept]);
  }

  /** The server offers no type the filter can follow: the viewer is told why, then the session ends. */
  #noSecurity(offered: number[], minor: number): Uint8Array {
    const reason = `the VNC server offers only security types vncws cannot follow ` +
      `(${offered.join(", ")}), so the view-only/clipboard policy cannot be enforced; ` +
      `give vncws the server's password (--target-password-file or the token's) so it ` +
      `authenticates itself, or let the server offer None or VncAuth`;
    this.#endNext = reason;
    this.#serverPassAll();
    const text = encoder.encode(reason);
    const head = minor >= 7 ? [0] : [0, 0, 0, 0];
    return new Uint8Array([...head, ...u32be(text.length), ...text]);
  }

  /** After the security type: VncAuth's challenge, the SecurityResult, or ServerInit. */
  #afterSecurity(): number {
    const s = this.#server;
    const result = () =>
      s.collect(4, (r) => {
        if (u32(r) === 0) return this.#serverInit();
        if (this.#minor >= 8) this.#serverFailure();
        else this.#serverPassAll();
      });
    if (this.#security === 2) s.skip(16, true, result);
    else if (this.#minor >= 8) result();
    else this.#serverInit();
    return 0;
  }

  #serverInit(): void {
    this.#server.collect(24, (h) => {
      this.#pixelFormat = parsePixelFormat(h.subarray(4));
      this.#server.skip(u32(h, 20), true, () => {
        if (!framesServerStream(this.#policy)) {
          this.#serverPass = true;
          this.#serverPassAll();
          return;
        }
        new ServerMessageFramer(this.#server, {
          pixelFormat: () => this.#pixelFormat!,
          dropCutText: true,
          onDrop: (kind) => this.#drop(kind, `clipboard ${this.#policy.clipboard}`),
        }).start();
      });
    });
  }

  // --- the viewer's side ---

  #clientVersion(h: Uint8Array): void {
    this.#minor = protocolMinor(h, "viewer");
    const c = this.#client;
    const afterType = () => {
      if (this.#security === 2) c.skip(16, true, () => this.#clientInit());
      else this.#clientInit();
    };
    if (this.#minor >= 7) {
      c.collect(1, (t) => {
        if (!FOLLOWED_SECURITY.includes(t[0])) {
          throw new RfbProtocolError(`security type ${t[0]}, which was not offered`);
        }
        this.#security = t[0];
        afterType();
      });
    } else {
      c.scan(() => { // the server chose the type before the viewer sends more
        afterType();
        return 0;
      });
    }
  }

  #clientInit(): void {
    this.#client.collect(1, () => this.#clientMessage());
  }

  #clientMessage(): void {
    this.#client.collect(1, (t) => {
      const type = t[0];
      const need = clientMessageHeaderLength(type);
      if (need === undefined) {
        throw new RfbProtocolError(`a client message of unknown type ${type}`);
      }
      this.#client.collect(need - 1, (rest) => this.#clientHeader(type, rest));
      return "drop"; // held: sent again with the header, when it passes
    });
  }

  /** A client message's header (after its type byte): pass, drop or rewrite it, then its body. */
  #clientHeader(type: number, rest: Uint8Array): HeadFate {
    const c = this.#client;
    const head = new Uint8Array(1 + rest.length);
    head[0] = type;
    head.set(rest, 1);
    const length = clientMessageLength(head);
    const next = () => this.#clientMessage();
    const p = this.#policy;
    let fate: HeadFate = head;
    if (type === C.SetPixelFormat) this.#pixelFormat = parsePixelFormat(head.subarray(4));
    if (type === C.SetEncodings && length > head.length) {
      c.collect(length - head.length, (encs) => this.#setEncodings(encs));
      return "drop";
    }
    const input = viewerInput(head);
    if (p.viewOnly && input) fate = this.#drop(input, "view-only");
    else if (type === C.ClientCutText && (p.clipboard === "to-client" || p.clipboard === "none")) {
      fate = this.#drop("client_cut_text", `clipboard ${p.clipboard}`);
    }
    c.skip(length - head.length, fate !== "drop", next);
    return fate;
  }

  /**
   * The viewer's encodings, kept to the ones the session can take: never
   * ExtendedMouseButtons (it changes PointerEvent's length, which only the
   * server's answer would tell) or the extended clipboard (its requests go
   * the other way than its data, so one direction cannot be cut alone);
   * with the server stream framed, only the encodings it can frame.
   */
  #setEncodings(encs: Uint8Array): HeadFate {
    const framed = framesServerStream(this.#policy);
    const kept: number[] = [];
    for (let off = 0; off + 4 <= encs.length; off += 4) {
      const e = (encs[off] << 24) | (encs[off + 1] << 16) | (encs[off + 2] << 8) | encs[off + 3];
      if (e === Encoding.ExtendedMouseButtons || e === Encoding.ExtendedClipboard) continue;
      if (framed && !isFramableEncoding(e)) continue;
      kept.push(e);
    }
    const out = new Uint8Array(4 + 4 * kept.length);
    const v = new DataView(out.buffer);
    out[0] = C.SetEncodings;
    v.setUint16(2, kept.length);
    kept.forEach((e, i) => v.setInt32(4 + 4 * i, e));
    this.#clientMessage();
    return out;
  }
}

function u32(b: Uint8Array, off = 0): number {
  return ((b[off] << 24) >>> 0) + ((b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]);
}
