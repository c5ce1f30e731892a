/**
 * What a replay sends each viewer, worked out from a recording: the recorded
 * RFB handshake is skipped (the viewer gets one of its own), the recorded
 * ServerInit is kept with its pixel format replaced by the one the recorded
 * client asked for (the recorded updates are encoded in that format), and
 * the server messages after it are sent with their recorded timing.
 * @module
 */
import {
  parseServerInitHead,
  parseVersion,
  SECURITY_NONE,
  SECURITY_VNC_AUTH,
  SERVER_INIT_HEAD_BYTES,
  VERSION_BYTES,
  versionText,
} from "../rfb/handshake.ts";
import {
  clientMessageHeaderLength,
  clientMessageLength,
  ClientMessageType,
} from "../rfb/client_messages.ts";
import { PIXEL_FORMAT_BYTES } from "../rfb/pixel_format.ts";
import { type Frame, type Recording, RecordingError } from "./codec.ts";

const decoder = new TextDecoder();

/** A cursor over one direction's bytes, remembering which frame each byte came from. */
class ByteCursor {
  readonly #frames: Frame[];
  #frame = 0;
  #offset = 0;

  constructor(frames: Frame[]) {
    this.#frames = frames;
  }

  /** Takes `n` bytes (across frames). */
  take(n: number, what: string): Uint8Array {
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const f = this.#frames[this.#frame];
      if (!f) {
        throw new RecordingError(`the recording ends inside the RFB handshake (${what})`);
      }
      const k = Math.min(n - got, f.data.length - this.#offset);
      out.set(f.data.subarray(this.#offset, this.#offset + k), got);
      got += k;
      this.#offset += k;
      if (this.#offset === f.data.length) {
        this.#frame++;
        this.#offset = 0;
      }
    }
    return out;
  }

  u8(what: string): number {
    return this.take(1, what)[0];
  }

  u32be(what: string): number {
    return new DataView(this.take(4, what).buffer).getUint32(0);
  }

  /** Time of the last byte taken. */
  get lastMs(): number {
    const f = this.#frames[this.#offset === 0 ? this.#frame - 1 : this.#frame];
    return f?.ms ?? 0;
  }

  /** Everything not taken yet, as frames (the first one possibly partial). */
  rest(): Frame[] {
    const out: Frame[] = [];
    for (let i = this.#frame; i < this.#frames.length; i++) {
      const f = this.#frames[i];
      const data = i === this.#frame ? f.data.subarray(this.#offset) : f.data;
      if (data.length > 0) out.push({ ...f, data });
    }
    return out;
  }
}

function minorVersion(bytes: Uint8Array, who: string): number {
  const minor = parseVersion(bytes);
  if (minor === undefined) {
    throw new RecordingError(`the recorded ${who} version is not RFB: ${versionText(bytes)}`);
  }
  return minor;
}

function securityFailure(server: ByteCursor, why: string): never {
  let reason = "";
  try {
    reason = decoder.decode(server.take(server.u32be("reason length"), "reason"));
  } catch { /* no reason recorded */ }
  throw new RecordingError(`${why}${reason ? `: ${reason}` : ""}; there is nothing to replay`);
}

/** The first pixel format the recorded client asked for, if it did before an unknown message. */
function requestedPixelFormat(client: ByteCursor): Uint8Array | undefined {
  try {
    for (;;) {
      const type = client.u8("message type");
      const need = clientMessageHeaderLength(type);
      if (need === undefined) return undefined;
      const head = new Uint8Array(need);
      head[0] = type;
      head.set(client.take(need - 1, "message header"), 1);
      if (type === ClientMessageType.SetPixelFormat) {
        return head.slice(4, 4 + PIXEL_FORMAT_BYTES);
      }
      client.take(clientMessageLength(head) - need, "message");
    }
  } catch {
    return undefined;
  }
}

/** What a replay sends to each viewer. */
export interface ReplayPlan {
  /** The recorded ServerInit, pixel format replaced by the one the recorded client used. */
  serverInit: Uint8Array;
  /** Framebuffer width, for the log. */
  width: number;
  /** Framebuffer height, for the log. */
  height: number;
  /** Desktop name, for the log. */
  name: string;
  /** Server messages after ServerInit; `ms` relative to ServerInit. */
  updates: Frame[];
}

/**
 * Splits a recording into the recorded RFB handshake (which is skipped) and
 * the server messages after it. Supports security types None and VNC
 * authentication; other types (TLS, VeNCrypt, ...) cannot be replayed.
 */
export function planReplay(recording: Recording): ReplayPlan {
  const server = new ByteCursor(recording.frames.filter((f) => f.toClient));
  const client = new ByteCursor(recording.frames.filter((f) => !f.toClient));
  const sv = minorVersion(server.take(VERSION_BYTES, "server version"), "server");
  const cv = minorVersion(client.take(VERSION_BYTES, "client version"), "client");
  const version = Math.min(sv, cv);
  let security: number;
  if (version === 3) {
    security = server.u32be("security type");
    if (security === 0) securityFailure(server, "the recorded server refused the connection");
  } else {
    const n = server.u8("security type count");
    if (n === 0) securityFailure(server, "the recorded server refused the connection");
    server.take(n, "security types");
    security = client.u8("chosen security type");
  }
  if (security === SECURITY_VNC_AUTH) {
    server.take(16, "VNC authentication challenge");
    client.take(16, "VNC authentication response");
  } else if (security !== SECURITY_NONE) {
    throw new RecordingError(
      `the recorded session used security type ${security}; replay can skip only None (1) ` +
        "and VNC authentication (2) — encrypted sessions (TLS, VeNCrypt) cannot be replayed",
    );
  }
  if (version === 8 || security === SECURITY_VNC_AUTH) {
    const result = server.u32be("security result");
    if (result !== 0) {
      if (version === 8) securityFailure(server, "the recorded authentication failed");
      throw new RecordingError("the recorded authentication failed; there is nothing to replay");
    }
  }
  client.take(1, "ClientInit");
  const head = server.take(SERVER_INIT_HEAD_BYTES, "ServerInit");
  const { width, height, nameLength } = parseServerInitHead(head);
  const nameBytes = server.take(nameLength, "desktop name");
  const initMs = server.lastMs;
  const serverInit = new Uint8Array(SERVER_INIT_HEAD_BYTES + nameLength);
  serverInit.set(head);
  serverInit.set(nameBytes, SERVER_INIT_HEAD_BYTES);
  const pf = requestedPixelFormat(client);
  if (pf) serverInit.set(pf, 4);
  return {
    serverInit,
    width,
    height,
    name: decoder.decode(nameBytes),
    updates: server.rest().map((f) => ({ ...f, ms: Math.max(0, f.ms - initMs) })),
  };
}
