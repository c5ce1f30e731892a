/**
 * Framing and decoding of RFB client-to-server messages (RFC 6143 §7.5 and
 * the common extensions): how long a message is from its first bytes, a
 * whole message read from a stream, and its fields. The framing works on
 * bytes in memory as well (a recorded session), and is what a proxy that
 * inspects or filters viewer input builds on.
 * @module
 */
import { parsePixelFormat, PIXEL_FORMAT_BYTES, type PixelFormat } from "./pixel_format.ts";
import { RfbProtocolError, type RfbReader } from "./reader.ts";

/** Client message type numbers. */
export const ClientMessageType = {
  SetPixelFormat: 0,
  SetEncodings: 2,
  FramebufferUpdateRequest: 3,
  KeyEvent: 4,
  PointerEvent: 5,
  ClientCutText: 6,
  EnableContinuousUpdates: 150,
  ClientFence: 248,
  Xvp: 250,
  SetDesktopSize: 251,
  QemuClientMessage: 255,
} as const;

const T = ClientMessageType;

/** QEMU client message subtype 0: the extended key event. */
export const QEMU_EXTENDED_KEY_EVENT = 0;
/** QEMU client message subtype 1: audio (pseudo-encoding -259). */
export const QEMU_AUDIO: number = 1;

/** The operations of a QEMU audio client message (its U16 after the subtype). */
export const QemuAudioOperation = {
  Enable: 0,
  Disable: 1,
  /** Followed by sample format (U8), channels (U8) and frequency (U32). */
  SetFormat: 2,
} as const;

/**
 * Bytes of a message of `type` (its type byte included) needed before its
 * whole length is known; undefined for a type this module does not know.
 */
export function clientMessageHeaderLength(type: number): number | undefined {
  switch (type) {
    case T.SetPixelFormat:
      return 4 + PIXEL_FORMAT_BYTES;
    case T.SetEncodings:
      return 4; // type, padding, count
    case T.FramebufferUpdateRequest:
    case T.EnableContinuousUpdates:
      return 10;
    case T.KeyEvent:
      return 8;
    case T.PointerEvent:
      return 6;
    case T.ClientCutText:
      return 8; // type, 3 padding, length
    case T.ClientFence:
      return 9; // type, 3 padding, flags, payload length
    case T.SetDesktopSize:
      return 8; // type, padding, width, height, screen count, padding
    case T.Xvp:
      return 4; // type, padding, version, code
    case T.QemuClientMessage:
      return 4; // type, subtype, and the audio operation (every subtype is at least 4 bytes)
    default:
      return undefined;
  }
}

/**
 * The whole length of the message that `head` starts with; `head` holds at
 * least {@linkcode clientMessageHeaderLength} bytes. Throws
 * {@linkcode RfbProtocolError} for an unknown type or QEMU subtype.
 */
export function clientMessageLength(head: Uint8Array): number {
  const type = head[0];
  const need = clientMessageHeaderLength(type);
  if (need === undefined) {
    throw new RfbProtocolError(`unknown RFB client message type ${type}; closing`);
  }
  if (head.length < need) {
    throw new RangeError(`client message type ${type} needs ${need} header bytes`);
  }
  const v = new DataView(head.buffer, head.byteOffset, need);
  switch (type) {
    case T.SetEncodings:
      return 4 + 4 * v.getUint16(2);
    case T.ClientCutText:
      return 8 + Math.abs(v.getInt32(4)); // a negative length is the extended-clipboard form
    case T.ClientFence:
      return 9 + v.getUint8(8);
    case T.SetDesktopSize:
      return 8 + 16 * v.getUint8(6);
    case T.QemuClientMessage:
      if (head[1] === QEMU_EXTENDED_KEY_EVENT) return 12;
      if (head[1] === QEMU_AUDIO) return qemuAudioLength(v.getUint16(2));
      throw new RfbProtocolError(`unknown QEMU client message subtype ${head[1]}`);
    default:
      return need;
  }
}

/** Bytes of a QEMU audio client message with `operation`; throws for an unknown one. */
function qemuAudioLength(operation: number): number {
  if (operation === QemuAudioOperation.SetFormat) return 10;
  if (operation === QemuAudioOperation.Enable || operation === QemuAudioOperation.Disable) return 4;
  throw new RfbProtocolError(`unknown QEMU audio operation ${operation}`);
}

/** Options for {@linkcode readClientMessage}. */
export interface ReadClientMessageOptions {
  /** Largest ClientCutText text accepted, in bytes (default 1 MiB). */
  maxCutText?: number;
}

/**
 * Reads one whole client message (type byte first) from `reader`: a view
 * valid until the reader's next call. Rejects with
 * {@linkcode RfbProtocolError} for an unknown message or clipboard text over
 * the limit, and with `RfbEndOfStream` when the client hangs up.
 */
export async function readClientMessage(
  reader: RfbReader,
  options: ReadClientMessageOptions = {},
): Promise<Uint8Array> {
  const type = await reader.u8();
  const need = clientMessageHeaderLength(type);
  if (need === undefined) {
    throw new RfbProtocolError(`unknown RFB client message type ${type}; closing`);
  }
  const head = new Uint8Array(need);
  head[0] = type;
  head.set(await reader.take(need - 1), 1);
  const length = clientMessageLength(head);
  if (type === T.ClientCutText) {
    const max = options.maxCutText ?? 1 << 20;
    if (length - 8 > max) {
      throw new RfbProtocolError(
        `client clipboard text of ${length - 8} bytes exceeds ${max} bytes`,
      );
    }
  }
  if (length === need) return head;
  const out = new Uint8Array(length);
  out.set(head);
  out.set(await reader.take(length - need), need);
  return out;
}

/** A rectangle of the framebuffer. */
export interface RfbRect {
  /** Left edge. */
  x: number;
  /** Top edge. */
  y: number;
  /** Width. */
  w: number;
  /** Height. */
  h: number;
}

/** A decoded client message. */
export type ClientMessage =
  | { kind: "SetPixelFormat"; pixelFormat: PixelFormat }
  | { kind: "SetEncodings"; encodings: number[] }
  | { kind: "FramebufferUpdateRequest"; incremental: boolean; rect: RfbRect }
  | { kind: "KeyEvent"; down: boolean; keysym: number }
  | { kind: "PointerEvent"; buttons: number; x: number; y: number }
  | { kind: "ClientCutText"; text: Uint8Array; extended: boolean }
  | { kind: "EnableContinuousUpdates"; enable: boolean; rect: RfbRect }
  | { kind: "ClientFence"; flags: number; payload: Uint8Array }
  | { kind: "SetDesktopSize"; width: number; height: number; screens: number }
  | { kind: "Xvp"; version: number; code: number }
  | { kind: "QemuExtendedKeyEvent"; down: boolean; keysym: number; keycode: number }
  | QemuAudioMessage;

/**
 * A QEMU audio client message: enable or disable the stream, or set its
 * sample format (0 U8, 1 S8, 2 U16, 3 S16, 4 U32, 5 S32), channels (1 or 2)
 * and frequency (Hz).
 */
export type QemuAudioMessage =
  | { kind: "QemuAudio"; operation: 0 | 1 }
  | { kind: "QemuAudio"; operation: 2; sampleFormat: number; channels: number; frequency: number };

function rectAt(v: DataView, off: number): RfbRect {
  return {
    x: v.getUint16(off),
    y: v.getUint16(off + 2),
    w: v.getUint16(off + 4),
    h: v.getUint16(off + 6),
  };
}

/** The fields of one whole client message, as {@linkcode readClientMessage} returns it. */
export function decodeClientMessage(msg: Uint8Array): ClientMessage {
  const length = clientMessageLength(msg);
  if (msg.length < length) {
    throw new RangeError(`client message type ${msg[0]} is ${length} bytes, got ${msg.length}`);
  }
  const v = new DataView(msg.buffer, msg.byteOffset, length);
  switch (msg[0]) {
    case T.SetPixelFormat:
      return { kind: "SetPixelFormat", pixelFormat: parsePixelFormat(msg.subarray(4)) };
    case T.SetEncodings: {
      const encodings: number[] = [];
      for (let off = 4; off < length; off += 4) encodings.push(v.getInt32(off));
      return { kind: "SetEncodings", encodings };
    }
    case T.FramebufferUpdateRequest:
      return { kind: "FramebufferUpdateRequest", incremental: msg[1] !== 0, rect: rectAt(v, 2) };
    case T.KeyEvent:
      return { kind: "KeyEvent", down: msg[1] !== 0, keysym: v.getUint32(4) };
    case T.PointerEvent:
      return { kind: "PointerEvent", buttons: msg[1], x: v.getUint16(2), y: v.getUint16(4) };
    case T.ClientCutText:
      return { kind: "ClientCutText", text: msg.subarray(8, length), extended: v.getInt32(4) < 0 };
    case T.EnableContinuousUpdates:
      return { kind: "EnableContinuousUpdates", enable: msg[1] !== 0, rect: rectAt(v, 2) };
    case T.ClientFence:
      return { kind: "ClientFence", flags: v.getUint32(4), payload: msg.subarray(9, length) };
    case T.SetDesktopSize:
      return {
        kind: "SetDesktopSize",
        width: v.getUint16(2),
        height: v.getUint16(4),
        screens: msg[6],
      };
    case T.Xvp:
      return { kind: "Xvp", version: msg[2], code: msg[3] };
    default: // QEMU: the extended key event or audio, the subtypes clientMessageLength accepts
      if (msg[1] === QEMU_AUDIO) {
        const operation = v.getUint16(2);
        if (operation !== QemuAudioOperation.SetFormat) {
          return { kind: "QemuAudio", operation: operation as 0 | 1 };
        }
        return {
          kind: "QemuAudio",
          operation,
          sampleFormat: msg[4],
          channels: msg[5],
          frequency: v.getUint32(6),
        };
      }
      return {
        kind: "QemuExtendedKeyEvent",
        down: v.getUint16(2) !== 0,
        keysym: v.getUint32(4),
        keycode: v.getUint32(8),
      };
  }
}
