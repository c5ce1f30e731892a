/**
 * Framing of the RFB server-to-client stream after ServerInit (RFC 6143
 * §7.6 and the extensions noVNC uses), incrementally on a
 * {@linkcode ByteScanner}: FramebufferUpdate rectangles in every encoding
 * of {@linkcode FRAMABLE_ENCODINGS}, SetColourMapEntries, Bell,
 * ServerCutText (plain and extended), EndOfContinuousUpdates, ServerFence,
 * xvp and QEMU audio. Pixel data is skipped by byte count, never copied.
 * What the clipboard policy needs to find ServerCutText; a rectangle in an
 * encoding it cannot frame ends the framing with {@linkcode RfbProtocolError}.
 * @module
 */
import type { PixelFormat } from "./pixel_format.ts";
import { RfbProtocolError } from "./reader.ts";
import type { ByteScanner, HeadFate } from "./scanner.ts";

/** Encoding numbers this module frames (RFC 6143 §7.7, the RFB community registry). */
export const Encoding = {
  Raw: 0,
  CopyRect: 1,
  RRE: 2,
  Hextile: 5,
  Zlib: 6,
  Tight: 7,
  ZRLE: 16,
  JPEG: 21,
  H264: 50,
  TightPNG: -260,
  DesktopSize: -223,
  LastRect: -224,
  Cursor: -239,
  XCursor: -240,
  QemuExtendedKeyEvent: -258,
  QemuAudio: -259,
  QemuLedState: -261,
  DesktopName: -307,
  ExtendedDesktopSize: -308,
  Xvp: -309,
  Fence: -312,
  ContinuousUpdates: -313,
  ExtendedMouseButtons: -316,
  VMwareCursor: 0x574d5664,
  ExtendedClipboard: 0xc0a1e5ce | 0, // signed on the wire
} as const;

const E = Encoding;

/** Quality level pseudo-encodings (-32 … -23) and compression level ones (-256 … -247). */
function isLevel(enc: number): boolean {
  return (enc >= -32 && enc <= -23) || (enc >= -256 && enc <= -247);
}

const FRAMED = new Set<number>([
  E.Raw,
  E.CopyRect,
  E.RRE,
  E.Hextile,
  E.Zlib,
  E.Tight,
  E.ZRLE,
  E.JPEG,
  E.H264,
  E.TightPNG,
  E.DesktopSize,
  E.LastRect,
  E.Cursor,
  E.XCursor,
  E.QemuExtendedKeyEvent,
  E.QemuAudio,
  E.QemuLedState,
  E.DesktopName,
  E.ExtendedDesktopSize,
  E.Xvp,
  E.Fence,
  E.ContinuousUpdates,
  E.VMwareCursor,
  E.ExtendedClipboard,
]);

/**
 * True when a viewer may ask for `encoding` in a session whose server
 * stream is framed: the encodings and pseudo-encodings this module frames.
 */
export function isFramableEncoding(encoding: number): boolean {
  return FRAMED.has(encoding) || isLevel(encoding);
}

/** Server message type numbers. */
export const ServerMessageType = {
  FramebufferUpdate: 0,
  SetColourMapEntries: 1,
  Bell: 2,
  ServerCutText: 3,
  EndOfContinuousUpdates: 150,
  ServerFence: 248,
  Xvp: 250,
  QemuServerMessage: 255,
} as const;

const S = ServerMessageType;

/** What {@linkcode ServerMessageFramer} needs from around it. */
export interface ServerFramerOptions {
  /** The pixel format now in force (ServerInit's, or the viewer's last SetPixelFormat). */
  pixelFormat(): PixelFormat;
  /** Drop ServerCutText (plain and extended): the clipboard may not go to the viewer. */
  dropCutText: boolean;
  /** Called for each message dropped. */
  onDrop(kind: "server_cut_text"): void;
}

/** Bytes of one pixel on the wire. */
/** Bytes of one pixel on the wire in `pf` (Raw, Hextile, RRE …). */
export function bytesPerPixel(pf: PixelFormat): number {
  return Math.max(1, pf.bitsPerPixel >> 3);
}

/** Tight's TPIXEL size: 3 bytes for 32-bit true colour of depth 24 with 8-bit channels. */
export function tightPixelBytes(pf: PixelFormat): number {
  return pf.bitsPerPixel === 32 && pf.depth === 24 && pf.trueColour &&
      pf.redMax === 255 && pf.greenMax === 255 && pf.blueMax === 255
    ? 3
    : bytesPerPixel(pf);
}

function u16(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}

function u32(b: Uint8Array, off: number): number {
  return ((b[off] << 24) >>> 0) + ((b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]);
}

function i32(b: Uint8Array, off: number): number {
  return (b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3];
}

/** Frames server messages on `scanner` from its next byte on. */
export class ServerMessageFramer {
  readonly #s: ByteScanner;
  readonly #o: ServerFramerOptions;
  #rects = 0;
  #rect = { x: 0, y: 0, w: 0, h: 0, enc: 0 };
  // Hextile: tiles left in the rectangle and the current tile's size.
  #tileX = 0;
  #tileY = 0;
  // Tight: compact length bytes read so far.
  #compact = 0;
  #compactShift = 0;

  /** Frames on `scanner`, starting with the next message. */
  constructor(scanner: ByteScanner, options: ServerFramerOptions) {
    this.#s = scanner;
    this.#o = options;
  }

  /** Expects the next message's type byte. */
  start(): void {
    this.#s.collect(1, (h) => this.#type(h[0]));
  }

  #type(type: number): HeadFate | void {
    const s = this.#s;
    switch (type) {
      case S.FramebufferUpdate:
        s.collect(3, (h) => {
          this.#rects = u16(h, 1);
          this.#nextRect();
        });
        return;
      case S.SetColourMapEntries:
        s.collect(5, (h) => s.skip(6 * u16(h, 3), true, () => this.start()));
        return;
      case S.Bell:
      case S.EndOfContinuousUpdates:
        this.start();
        return;
      case S.ServerCutText: {
        const drop = this.#o.dropCutText;
        if (drop) this.#o.onDrop("server_cut_text");
        s.collect(7, (h) => {
          s.skip(Math.abs(i32(h, 3)), !drop, () => this.start()); // negative: extended form
          return drop ? "drop" : "pass";
        });
        return drop ? "drop" : "pass";
      }
      case S.ServerFence:
        s.collect(8, (h) => s.skip(h[7], true, () => this.start()));
        return;
      case S.Xvp:
        s.collect(3, () => this.start());
        return;
      case S.QemuServerMessage:
        s.collect(3, (h) => {
          if (h[0] !== 1) {
            throw new RfbProtocolError(`unknown QEMU server message subtype ${h[0]}`);
          }
          if (u16(h, 1) === 2) s.collect(4, (l) => s.skip(u32(l, 0), true, () => this.start()));
          else this.start();
        });
        return;
      default:
        throw new RfbProtocolError(`a server message of unknown type ${type}`);
    }
  }

  #nextRect(): void {
    if (this.#rects === 0) {
      this.start();
      return;
    }
    this.#rects--;
    this.#s.collect(12, (h) => {
      const r = this.#rect;
      r.x = u16(h, 0);
      r.y = u16(h, 2);
      r.w = u16(h, 4);
      r.h = u16(h, 6);
      r.enc = i32(h, 8);
      this.#body();
    });
  }

  #body(): void {
    const s = this.#s;
    const { w, h, enc } = this.#rect;
    const pf = this.#o.pixelFormat();
    const px = bytesPerPixel(pf);
    const next = () => this.#nextRect();
    const lengthPrefixed = () => s.collect(4, (l) => s.skip(u32(l, 0), true, next));
    switch (enc) {
      case E.Raw:
        return s.skip(w * h * px, true, next);
      case E.CopyRect:
        return s.skip(4, true, next);
      case E.RRE:
        return s.collect(4 + px, (l) => s.skip(u32(l, 0) * (px + 8), true, next));
      case E.Hextile:
        this.#tileX = 0;
        this.#tileY = 0;
        return this.#hextileTile();
      case E.Zlib:
      case E.ZRLE:
        return lengthPrefixed();
      case E.Tight:
      case E.TightPNG:
        return this.#tight();
      case E.JPEG:
        return this.#jpegMarker();
      case E.H264:
        return s.collect(8, (l) => s.skip(u32(l, 0), true, next));
      case E.DesktopSize:
      case E.QemuExtendedKeyEvent:
      case E.QemuAudio:
      case E.ExtendedMouseButtons:
      case E.Fence:
      case E.ContinuousUpdates:
      case E.Xvp:
      case E.ExtendedClipboard:
        return next();
      case E.LastRect:
        this.#rects = 0;
        return next();
      case E.QemuLedState:
        return s.skip(1, true, next);
      case E.Cursor:
        return s.skip(w * h * px + ((w + 7) >> 3) * h, true, next);
      case E.XCursor:
        return s.skip(w * h > 0 ? 6 + 2 * ((w + 7) >> 3) * h : 0, true, next);
      case E.ExtendedDesktopSize:
        return s.collect(4, (l) => s.skip(16 * l[0], true, next));
      case E.DesktopName:
        return lengthPrefixed();
      case E.VMwareCursor:
        return s.collect(2, (l) => {
          if (l[0] > 1) throw new RfbProtocolError(`unknown VMware cursor type ${l[0]}`);
          s.skip((l[0] === 0 ? 2 : 1) * w * h * 4, true, next);
        });
      default:
        throw new RfbProtocolError(
          `a FramebufferUpdate rectangle in encoding ${enc}, which vncws cannot frame`,
        );
    }
  }

  #hextileTile(): void {
    const s = this.#s;
    const { w, h } = this.#rect;
    // A rectangle of width 0 has no tiles, whatever its height.
    if (w === 0 || this.#tileY >= h) return this.#nextRect();
    const tw = Math.min(16, w - this.#tileX);
    const th = Math.min(16, h - this.#tileY);
    this.#tileX += 16;
    if (this.#tileX >= w) {
      this.#tileX = 0;
      this.#tileY += 16;
    }
    const px = bytesPerPixel(this.#o.pixelFormat());
    const next = () => this.#hextileTile();
    s.collect(1, (sub) => {
      const flags = sub[0];
      if (flags & 1) return s.skip(tw * th * px, true, next); // raw tile
      const colours = ((flags & 2) ? px : 0) + ((flags & 4) ? px : 0);
      if (!(flags & 8)) return s.skip(colours, true, next);
      s.skip(
        colours,
        true,
        () => s.collect(1, (n) => s.skip(n[0] * ((flags & 16) ? px + 2 : 2), true, next)),
      );
    });
  }

  #tight(): void {
    const s = this.#s;
    const { w, h } = this.#rect;
    const pf = this.#o.pixelFormat();
    const tp = tightPixelBytes(pf);
    const next = () => this.#nextRect();
    s.collect(1, (c) => {
      const kind = c[0] >> 4;
      if (kind === 8) return s.skip(tp, true, next); // fill
      if (kind === 9 || kind === 10) return this.#compactThen(next); // JPEG, PNG
      if (kind > 7) throw new RfbProtocolError(`unknown Tight compression control ${c[0]}`);
      // Basic compression, with an optional filter.
      const data = (rowBytes: number) => {
        const size = rowBytes * h;
        if (size < 12) s.skip(size, true, next);
        else this.#compactThen(next);
      };
      if (!(kind & 4)) return data(w * tp);
      s.collect(1, (f) => {
        switch (f[0]) {
          case 0: // copy
          case 2: // gradient
            return data(w * tp);
          case 1: // palette
            return s.collect(1, (n) => {
              const colours = n[0] + 1;
              s.skip(colours * tp, true, () => data(colours === 2 ? (w + 7) >> 3 : w));
            });
          default:
            throw new RfbProtocolError(`unknown Tight filter ${f[0]}`);
        }
      });
    });
  }

  /** A Tight compact length (1–3 bytes), then that many bytes, then `then`. */
  #compactThen(then: () => void): void {
    this.#compact = 0;
    this.#compactShift = 0;
    const byte = (b: Uint8Array): void => {
      const last = this.#compactShift === 14;
      this.#compact |= (last ? b[0] : b[0] & 0x7f) << this.#compactShift;
      if (!last && (b[0] & 0x80)) {
        this.#compactShift += 7;
        this.#s.collect(1, byte);
      } else {
        this.#s.skip(this.#compact, true, then);
      }
    };
    this.#s.collect(1, byte);
  }

  /** JPEG (encoding 21): marker segments until EOI, the entropy-coded data scanned for markers. */
  #jpegMarker(): void {
    this.#s.collect(2, (m) => {
      if (m[0] !== 0xff) throw new RfbProtocolError(`a JPEG rectangle without a marker (${m[0]})`);
      this.#jpegSegment(m[1]);
    });
  }

  /** The rest of a JPEG segment whose marker type is `type`. */
  #jpegSegment(type: number): void {
    if (type === 0xd9) return this.#nextRect(); // end of image
    if ((type >= 0xd0 && type <= 0xd8) || type === 0x01) return this.#jpegMarker();
    this.#s.collect(2, (l) => {
      const length = u16(l, 0);
      if (length < 2) throw new RfbProtocolError(`a JPEG segment of length ${length}`);
      this.#s.skip(length - 2, true, () => {
        if (type === 0xda) this.#jpegEntropy();
        else this.#jpegMarker();
      });
    });
  }

  /** Scans entropy-coded bytes up to the next marker (0xFF not followed by 0x00 or RSTn). */
  #jpegEntropy(): void {
    let ff = false;
    this.#s.scan((chunk, pos) => {
      let i = pos;
      while (i < chunk.length) {
        if (ff) {
          const b = chunk[i];
          if (b === 0x00 || (b >= 0xd0 && b <= 0xd7)) {
            ff = false;
            i++;
            continue;
          }
          // The 0xFF before `b` starts the next marker (passed already): its type byte is next.
          this.#s.collect(1, (t) => this.#jpegSegment(t[0]));
          return i - pos;
        }
        const j = chunk.indexOf(0xff, i);
        if (j < 0) return chunk.length - pos;
        ff = true;
        i = j + 1;
      }
      return i - pos;
    });
  }
}
