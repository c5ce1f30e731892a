/**
 * The view-only and clipboard policy as framing of both RFB streams, in
 * memory: chunks of any size in, the bytes to forward out. It follows the
 * handshake passively both ways (keeping the server's security types to the
 * ones it can follow, None and VncAuth), then frames the viewer's messages
 * (dropping input in view-only and clipboard text the policy forbids, and
 * asking the server only for encodings it can frame) and, when the
 * clipboard may not reach the viewer, the server's messages too, dropping
 * ServerCutText. Bytes it cannot frame throw {@linkcode RfbProtocolError}.
 * `filter.ts` puts it on a stream; the fuzz target drives it directly.
 * @module
 */
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
import {
  bytesPerPixel,
  Encoding,
  isFramableEncoding,
  ServerMessageFramer,
  tightPixelBytes,
} from "./server_messages.ts";

/** Kinds of dropped messages, the `kind` label of the drop counter. */
export const DROP_KINDS = [
  "key",
  "pointer",
  "client_cut_text",
  "set_desktop_size",
  "xvp",
  "server_cut_text",
] as const;

/** One of {@linkcode DROP_KINDS}. */
export type DropKind = typeof DROP_KINDS[number];

/** Security types the framer can follow: the bytes after them are plain RFB. */
const FOLLOWED_SECURITY = [1, 2]; // None, VncAuth

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

const encoder = new TextEncoder();

function u32be(n: number): Uint8Array {
  return new Uint8Array([n >>> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255]);
}

/** The minor version of an RFB ProtocolVersion message; throws when it is not one. */
function protocolMinor(head: Uint8Array, side: string): number {
  const text = String.fromCharCode(...head);
  const m = /^RFB (\d{3})\.(\d{3})\n$/.exec(text);
  if (!m) throw new RfbProtocolError(`the ${side} did not start with an RFB ProtocolVersion`);
  const minor = Number(m[2]);
  return Number(m[1]) > 3 || minor >= 8 ? 8 : minor === 7 ? 7 : 3;
}

/** Called for each message dropped, with the policy that dropped it in words. */
export type OnDrop = (kind: DropKind, why: string) => void;

/** Both streams of one session framed under its policy (see the module doc). */
export class RfbPolicyFramer {
  readonly #policy: RfbPolicy;
  readonly #onDrop: OnDrop;
  readonly #client = new ByteScanner();
  readonly #server = new ByteScanner();
  /** Minor version the session follows, min(server's, viewer's) (3, 7 or 8); 0 until known. */
  #minor = 0;
  /** Minor version the server announced; 0 until known. */
  #serverMinor = 0;
  /** The security types offered to the viewer (3.7+, after the rewrite). */
  #offered: number[] = [];
  /** The security type in use; 0 until known. */
  #security = 0;
  #pixelFormat: PixelFormat | undefined;
  /** True once the viewer asked for its own pixel format (it then wins over ServerInit's). */
  #viewerFormat = false;
  /** True once the viewer asked for updates: the pixel size may no longer change. */
  #requested = false;
  #serverPass = false;
  #endReason: string | undefined;

  /** Frames a session under `policy` from its first byte each way. */
  constructor(policy: RfbPolicy, onDrop: OnDrop) {
    this.#policy = policy;
    this.#onDrop = onDrop;
    this.#client.collect(12, (h) => this.#clientVersion(h));
    this.#server.collect(12, (h) => {
      this.#serverMinor = protocolMinor(h, "VNC server");
      this.#server.scan(() => this.#serverSecurity());
    });
  }

  /**
   * True once the server's bytes need no framing any more (after ServerInit
   * when the clipboard may reach the viewer): they may go on unread.
   */
  get serverUnframed(): boolean {
    return this.#serverPass;
  }

  /**
   * Set when the session must end once what was forwarded has reached the
   * viewer (it was told why, in the security handshake).
   */
  get endReason(): string | undefined {
    return this.#endReason;
  }

  /** The bytes to forward for a chunk from the server, in order (views of `chunk` where possible). */
  fromServer(chunk: Uint8Array): Uint8Array[] {
    return this.#server.push(chunk);
  }

  /** The bytes to forward for a chunk from the viewer. */
  fromClient(chunk: Uint8Array): Uint8Array[] {
    return this.#client.push(chunk);
  }

  #drop(kind: DropKind, why: string): "drop" {
    this.#onDrop(kind, why);
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
    this.#offered = kept;
    this.#server.scan(() => this.#afterSecurity());
    return new Uint8Array([kept.length, ...kept]);
  }

  /** The server offers no type the filter can follow: the viewer is told why, then the session ends. */
  #noSecurity(offered: number[], minor: number): Uint8Array {
    const reason = `the VNC server offers only security types vncws cannot follow ` +
      `(${offered.join(", ")}), so the view-only/clipboard policy cannot be enforced; ` +
      `give vncws the server's password (--target-password-file or the token's) so it ` +
      `authenticates itself, or let the server offer None or VncAuth`;
    this.#endReason = reason;
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
      // A SetPixelFormat the viewer sent before ServerInit reached us (with
      // ClientInit, say) is applied by the server after ServerInit: it wins.
      if (!this.#viewerFormat) this.#pixelFormat = parsePixelFormat(h.subarray(4));
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
    const viewer = protocolMinor(h, "viewer");
    if (this.#serverMinor === 0) {
      throw new RfbProtocolError("a ProtocolVersion before the VNC server's");
    }
    if (viewer > this.#serverMinor) {
      throw new RfbProtocolError(
        `a ProtocolVersion 3.${viewer} above the VNC server's 3.${this.#serverMinor}`,
      );
    }
    this.#minor = Math.min(viewer, this.#serverMinor);
    const c = this.#client;
    const afterType = () => {
      if (this.#security === 2) c.skip(16, true, () => this.#clientInit());
      else this.#clientInit();
    };
    if (this.#minor >= 7) {
      c.collect(1, (t) => {
        if (!this.#offered.includes(t[0])) {
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
    if (type === C.SetPixelFormat) this.#setPixelFormat(parsePixelFormat(head.subarray(4)));
    if (type === C.FramebufferUpdateRequest || type === C.EnableContinuousUpdates) {
      this.#requested = true;
    }
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
   * The viewer's pixel format. Once it asked for updates, rectangles in the
   * old format may still be in flight (the viewer can delay them by not
   * reading), and the framer cannot tell where the server switched: with the
   * server's stream framed, a change of pixel size then ends the session
   * (noVNC sets its format once, before its first request).
   */
  #setPixelFormat(pf: PixelFormat): void {
    const old = this.#pixelFormat;
    if (
      this.#requested && old !== undefined && framesServerStream(this.#policy) &&
      (bytesPerPixel(pf) !== bytesPerPixel(old) || tightPixelBytes(pf) !== tightPixelBytes(old))
    ) {
      throw new RfbProtocolError(
        `a SetPixelFormat changing the pixel size (${old.bitsPerPixel} to ${pf.bitsPerPixel} ` +
          `bits) after asking for updates, which vncws cannot follow while updates in the ` +
          `old size may be in flight`,
      );
    }
    this.#pixelFormat = pf;
    this.#viewerFormat = true;
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
