/**
 * The server side of the RFB handshake (RFC 6143 §7.1–7.3), shared by every
 * RFB server in vncws (the demo desktop, replay): ProtocolVersion (3.8
 * offered; 3.3 and 3.7 clients served), security type None, SecurityResult,
 * ClientInit and ServerInit. Also the version and ServerInit codecs that a
 * reader of a recorded handshake needs.
 * @module
 */
import { concatBytes, u32be } from "../base/bytes.ts";
import type { ByteStream } from "../net/stream.ts";
import { PIXEL_FORMAT_BYTES } from "./pixel_format.ts";
import { RfbProtocolError, type RfbReader } from "./reader.ts";

/** The ProtocolVersion the servers send. */
export const SERVER_VERSION = "RFB 003.008\n";
/** Size of a ProtocolVersion message. */
export const VERSION_BYTES = 12;
/** Security type None. */
export const SECURITY_NONE = 1;
/** Security type VNC authentication. */
export const SECURITY_VNC_AUTH = 2;
/** Size of ServerInit before the desktop name. */
export const SERVER_INIT_HEAD_BYTES = 24;

/** The protocol minor versions that behave differently: 3.3, 3.7 and 3.8. */
export type RfbMinor = 3 | 7 | 8;

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/**
 * The minor version a ProtocolVersion message stands for, or undefined when
 * it is not `RFB 003.xxx\n`. Unknown minors below 7 count as 3.3 and above 8
 * as 3.8 (RFC 6143 §7.1.1).
 */
export function parseVersion(bytes: Uint8Array): RfbMinor | undefined {
  const m = /^RFB 003\.(\d{3})\n$/.exec(latin1.decode(bytes));
  if (!m) return undefined;
  const minor = Number(m[1]);
  return minor >= 8 ? 8 : minor === 7 ? 7 : 3;
}

/** The ProtocolVersion bytes as text for an error message. */
export function versionText(bytes: Uint8Array): string {
  return JSON.stringify(latin1.decode(bytes));
}

/** The fields of a ServerInit message. */
export interface ServerInit {
  /** Framebuffer width. */
  width: number;
  /** Framebuffer height. */
  height: number;
  /** The server's pixel format, 16 bytes of wire form. */
  pixelFormat: Uint8Array;
  /** Desktop name bytes (UTF-8 by convention). */
  name: Uint8Array;
}

/** Serialises a ServerInit message; a string name is sent as UTF-8. */
export function encodeServerInit(
  init: Omit<ServerInit, "name"> & { name: Uint8Array | string },
): Uint8Array {
  const name = typeof init.name === "string" ? encoder.encode(init.name) : init.name;
  const out = new Uint8Array(SERVER_INIT_HEAD_BYTES + name.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, init.width);
  v.setUint16(2, init.height);
  out.set(init.pixelFormat.subarray(0, PIXEL_FORMAT_BYTES), 4);
  v.setUint32(20, name.length);
  out.set(name, SERVER_INIT_HEAD_BYTES);
  return out;
}

/** Width, height and name length from the first 24 bytes of a ServerInit. */
export function parseServerInitHead(
  head: Uint8Array,
): { width: number; height: number; nameLength: number } {
  const v = new DataView(head.buffer, head.byteOffset, SERVER_INIT_HEAD_BYTES);
  return { width: v.getUint16(0), height: v.getUint16(2), nameLength: v.getUint32(20) };
}

/** Options for {@linkcode serverHandshake}. */
export interface ServerHandshakeOptions {
  /** The ServerInit to send once the client sent ClientInit. */
  serverInit: Uint8Array;
  /** Why another security type than None is refused (sent to a 3.8 client). */
  refusal: string;
}

/** How a {@linkcode serverHandshake} ended. */
export type HandshakeResult =
  | {
    /** The client reached the message phase. */
    ok: true;
    /** The version spoken. */
    minor: RfbMinor;
    /** ClientInit's shared flag. */
    shared: boolean;
  }
  | {
    /** The client was refused (and told why where the version allows). */
    ok: false;
    /** The version spoken. */
    minor: RfbMinor;
    /** The security type the client chose instead of None. */
    chosen: number;
  };

/**
 * Runs the server side of the handshake on `stream`, offering security
 * type None only, and sends `options.serverInit`. Rejects with
 * {@linkcode RfbProtocolError} when the client's version is not RFB 3.x, and
 * with `RfbEndOfStream` when it hangs up.
 */
export async function serverHandshake(
  stream: ByteStream,
  reader: RfbReader,
  options: ServerHandshakeOptions,
): Promise<HandshakeResult> {
  await stream.writeAll(encoder.encode(SERVER_VERSION));
  const version = await reader.take(VERSION_BYTES);
  const minor = parseVersion(version);
  if (minor === undefined) {
    throw new RfbProtocolError(
      `the client sent an unknown protocol version ${versionText(version)} ` +
        `(an RFB 3.x viewer sends ${JSON.stringify(SERVER_VERSION)})`,
    );
  }
  if (minor === 3) {
    await stream.writeAll(u32be(SECURITY_NONE)); // 3.3: the server picks the type
  } else {
    await stream.writeAll(new Uint8Array([1, SECURITY_NONE])); // one type offered
    const chosen = await reader.u8();
    if (chosen !== SECURITY_NONE) {
      if (minor === 8) {
        const reason = encoder.encode(options.refusal);
        await stream.writeAll(concatBytes([u32be(1), u32be(reason.length), reason]));
      }
      return { ok: false, minor, chosen };
    }
    if (minor === 8) await stream.writeAll(u32be(0)); // SecurityResult OK
  }
  const shared = (await reader.u8()) !== 0; // ClientInit
  await stream.writeAll(options.serverInit);
  return { ok: true, minor, shared };
}
