/**
 * `vncws replay FILE [--port P] [--host H] [--speed N]`: serves a
 * `--record` recording (either format) as an RFB server, so a native VNC
 * viewer, or noVNC through `vncws 6080 127.0.0.1:P`, can watch the session
 * again. Every viewer that connects gets the whole recording from the start.
 *
 * How a replay works when the viewer is not the recorded client: the
 * viewer gets a handshake of its own (RFB 3.3, 3.7 or 3.8, whichever it
 * asks for; security type None — the recorded password is not needed),
 * then the recorded ServerInit, with its pixel format replaced by the one
 * the recorded client asked for (SetPixelFormat), since the recorded
 * updates are encoded in that format. After that, the recorded to-client
 * bytes are sent with their recorded timing (divided by `--speed`); what
 * the viewer sends is read and ignored. The viewer must support the
 * encodings the recorded client used (noVNC and TigerVNC support all the
 * usual ones) and accept the recorded pixel format: noVNC always asks for
 * 32 bpp true colour, so recordings made through noVNC replay in noVNC,
 * while a recording made with a native viewer in another format shows wrong
 * colours there (a warning is logged when the viewer asks for a different
 * format). Encrypted sessions (VeNCrypt, TLS) cannot be replayed.
 *
 * Recordings contain secrets (typed passwords, clipboard): anyone who can
 * connect to the replay port sees everything the recorded server showed.
 * The replay listens on 127.0.0.1 unless `--host` says otherwise.
 * @module
 */
import { parseArgs } from "node:util";
import { logInfo, logWarn } from "../base/log.ts";
import { concatBytes, u32be } from "../base/bytes.ts";
import { DenoStream } from "../net/stream.ts";
import {
  COMPACT_HEADER_BYTES,
  COMPACT_MAGIC,
  COMPACT_RECORD_HEADER_BYTES,
  FROM_CLIENT,
  TO_CLIENT,
  unescapeRecordData,
} from "./codec.ts";
import { exists } from "../base/fs.ts";

/** One recorded chunk. */
export interface Frame {
  /** True for target → client bytes. */
  toClient: boolean;
  /** Milliseconds since the session start. */
  ms: number;
  data: Uint8Array;
}

/** A recording, read from a file (and its rotated parts). */
export interface Recording {
  frames: Frame[];
  /** The files read, in order. */
  files: string[];
}

/** A recording that cannot be replayed; the message says why. */
export class RecordingError extends Error {}

const decoder = new TextDecoder();

/** Parses the websockify (JavaScript) format. */
export function parseWebsockifyRecording(text: string, name = "recording"): Frame[] {
  const lines = text.split("\n");
  if (!/^\s*var\s+VNC_frame_data\s*=\s*\[\s*$/.test(lines[0] ?? "")) {
    throw new RecordingError(
      `${name} is not a recording: it does not start with "var VNC_frame_data = ["`,
    );
  }
  const frames: Frame[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line === "];") continue;
    if (/^'EOF'\s*\]?;?$/.test(line)) break;
    const m = /^'([{}])(\d+)([{}])(.*)',?$/.exec(line);
    if (!m || m[1] !== m[3]) {
      throw new RecordingError(`${name} line ${i + 1}: not a frame: ${line.slice(0, 60)}`);
    }
    let data: Uint8Array;
    try {
      data = unescapeRecordData(m[4]);
    } catch (e) {
      throw new RecordingError(`${name} line ${i + 1}: ${(e as Error).message}`);
    }
    frames.push({ toClient: m[1] === "{", ms: Number(m[2]), data });
  }
  return frames;
}

/** Parses one part of the compact format. */
export function parseCompactRecording(bytes: Uint8Array, name = "recording"): Frame[] {
  if (decoder.decode(bytes.subarray(0, 8)) !== COMPACT_MAGIC) {
    throw new RecordingError(`${name} is not a compact recording (no ${COMPACT_MAGIC} header)`);
  }
  if (bytes[8] !== 1) {
    throw new RecordingError(`${name}: compact format version ${bytes[8]} is not supported`);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frames: Frame[] = [];
  let off = COMPACT_HEADER_BYTES;
  while (off < bytes.length) {
    if (off + COMPACT_RECORD_HEADER_BYTES > bytes.length) {
      logWarn("replay: the recording ends inside a record header (cut short?)", { file: name });
      break;
    }
    const dir = bytes[off];
    const len = v.getUint32(off + 5);
    if (dir !== TO_CLIENT && dir !== FROM_CLIENT) {
      throw new RecordingError(`${name}: bad direction byte ${dir} at offset ${off}`);
    }
    const end = off + COMPACT_RECORD_HEADER_BYTES + len;
    if (end > bytes.length) {
      logWarn("replay: the recording ends inside a record (cut short?)", { file: name });
      break;
    }
    frames.push({
      toClient: dir === TO_CLIENT,
      ms: v.getUint32(off + 1),
      data: bytes.slice(off + COMPACT_RECORD_HEADER_BYTES, end),
    });
    off = end;
  }
  return frames;
}

/**
 * Reads a recording in either format. For the compact format, the parts
 * that follow the given one (`x.7.vncrec`, `x.7-2.vncrec`, ...) are read too.
 */
export async function readRecording(path: string): Promise<Recording> {
  const bytes = await Deno.readFile(path);
  if (decoder.decode(bytes.subarray(0, 8)) !== COMPACT_MAGIC) {
    return { frames: parseWebsockifyRecording(decoder.decode(bytes), path), files: [path] };
  }
  const frames = parseCompactRecording(bytes, path);
  const files = [path];
  const m = /^(.*\.\d+)(?:-(\d+))?\.vncrec$/.exec(path);
  if (m) {
    for (let part = Number(m[2] ?? 1) + 1;; part++) {
      const next = `${m[1]}-${part}.vncrec`;
      if (!exists(next)) break;
      frames.push(...parseCompactRecording(await Deno.readFile(next), next));
      files.push(next);
    }
  }
  return { frames, files };
}

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
  const text = decoder.decode(bytes);
  const m = /^RFB (\d{3})\.(\d{3})\n$/.exec(text);
  if (!m) {
    throw new RecordingError(`the recorded ${who} version is not RFB: ${JSON.stringify(text)}`);
  }
  const minor = Number(m[2]);
  return minor >= 8 ? 8 : minor === 7 ? 7 : 3;
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
      switch (type) {
        case 0: // SetPixelFormat
          client.take(3, "padding");
          return client.take(16, "pixel format");
        case 2: { // SetEncodings
          client.take(1, "padding");
          const n = new DataView(client.take(2, "count").buffer).getUint16(0);
          client.take(4 * n, "encodings");
          break;
        }
        case 3: // FramebufferUpdateRequest
          client.take(9, "update request");
          break;
        case 4: // KeyEvent
          client.take(7, "key event");
          break;
        case 5: // PointerEvent
          client.take(5, "pointer event");
          break;
        case 6: { // ClientCutText (negative length = extended clipboard)
          client.take(3, "padding");
          const len = new DataView(client.take(4, "length").buffer).getInt32(0);
          client.take(Math.abs(len), "cut text");
          break;
        }
        default:
          return undefined;
      }
    }
  } catch {
    return undefined;
  }
}

/** What a replay sends to each viewer. */
export interface ReplayPlan {
  /** The recorded ServerInit, pixel format replaced by the one the recorded client used. */
  serverInit: Uint8Array;
  /** Framebuffer size and desktop name, for the log. */
  width: number;
  height: number;
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
  const sv = minorVersion(server.take(12, "server version"), "server");
  const cv = minorVersion(client.take(12, "client version"), "client");
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
  if (security === 2) {
    server.take(16, "VNC authentication challenge");
    client.take(16, "VNC authentication response");
  } else if (security !== 1) {
    throw new RecordingError(
      `the recorded session used security type ${security}; replay can skip only None (1) ` +
        "and VNC authentication (2) — encrypted sessions (TLS, VeNCrypt) cannot be replayed",
    );
  }
  if (version === 8 || security === 2) {
    const result = server.u32be("security result");
    if (result !== 0) {
      if (version === 8) securityFailure(server, "the recorded authentication failed");
      throw new RecordingError("the recorded authentication failed; there is nothing to replay");
    }
  }
  client.take(1, "ClientInit");
  const head = server.take(24, "ServerInit");
  const nameLen = new DataView(head.buffer).getUint32(20);
  const nameBytes = server.take(nameLen, "desktop name");
  const initMs = server.lastMs;
  const serverInit = new Uint8Array(24 + nameLen);
  serverInit.set(head);
  serverInit.set(nameBytes, 24);
  const pf = requestedPixelFormat(client);
  if (pf) serverInit.set(pf, 4);
  const dv = new DataView(head.buffer);
  return {
    serverInit,
    width: dv.getUint16(0),
    height: dv.getUint16(2),
    name: decoder.decode(nameBytes),
    updates: server.rest().map((f) => ({ ...f, ms: Math.max(0, f.ms - initMs) })),
  };
}

async function readFull(conn: Deno.Conn, n: number): Promise<Uint8Array | null> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await conn.read(out.subarray(got));
    if (r === null) return null;
    got += r;
  }
  return out;
}

const encoder = new TextEncoder();

/** Runs one viewer: our handshake, the recorded ServerInit, the timed updates. */
async function replayTo(
  conn: Deno.Conn,
  plan: ReplayPlan,
  speed: number,
  signal: AbortSignal,
): Promise<void> {
  const out = new DenoStream(conn);
  await out.writeAll(encoder.encode("RFB 003.008\n"));
  const v = await readFull(conn, 12);
  if (!v) return;
  const m = /^RFB 003\.(\d{3})\n$/.exec(decoder.decode(v));
  if (!m) {
    throw new Error(
      `the viewer did not send an RFB 3.x version: ${JSON.stringify(decoder.decode(v))}`,
    );
  }
  const minor = Number(m[1]);
  if (minor < 7) {
    await out.writeAll(u32be(1));
  } else {
    await out.writeAll(new Uint8Array([1, 1]));
    const chosen = await readFull(conn, 1);
    if (!chosen) return;
    if (chosen[0] !== 1) {
      const why = encoder.encode("replay offers security type None only");
      if (minor >= 8) await out.writeAll(concatBytes([u32be(1), u32be(why.length), why]));
      throw new Error(`the viewer chose security type ${chosen[0]}; replay offers None (1) only`);
    }
    if (minor >= 8) await out.writeAll(u32be(0));
  }
  if (!(await readFull(conn, 1))) return; // ClientInit
  await out.writeAll(plan.serverInit);

  // Whatever the viewer sends from now on is read and dropped; only its
  // first message is looked at, to warn about a pixel format we cannot honour.
  let viewerGone = false;
  const drain = (async () => {
    const buf = new Uint8Array(4096);
    const first = new Uint8Array(20);
    let got = 0;
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        if (got < first.length) {
          const k = Math.min(n, first.length - got);
          first.set(buf.subarray(0, k), got);
          got += k;
          if (got === first.length) warnPixelFormat(first, plan);
        }
      }
    } catch { /* closed */ }
    viewerGone = true;
  })();

  const start = performance.now();
  for (const f of plan.updates) {
    if (viewerGone || signal.aborted) break;
    if (speed > 0) {
      const wait = f.ms / speed - (performance.now() - start);
      if (wait > 0) await abortableSleep(wait, signal);
      if (signal.aborted) break;
    }
    await out.writeAll(f.data);
  }
  // The last picture stays on the viewer's screen until it disconnects.
  if (!signal.aborted) {
    await Promise.race([drain, new Promise((r) => signal.addEventListener("abort", r))]);
  }
}

/** Warns when the viewer's first message asks for another pixel format than the recording's. */
function warnPixelFormat(first: Uint8Array, plan: ReplayPlan): void {
  if (first[0] !== 0) return; // not SetPixelFormat
  const asked = first.subarray(4, 20);
  const recorded = plan.serverInit.subarray(4, 20);
  if (asked.every((b, i) => b === recorded[i])) return;
  logWarn(
    "replay: the viewer asked for another pixel format than the recording has; " +
      "colours will be wrong (record with the viewer you replay to, e.g. noVNC)",
    {
      recordedBpp: recorded[0],
      askedBpp: asked[0],
    },
  );
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}

/** Options for {@linkcode serveReplay}. */
export interface ReplayServerOptions {
  hostname?: string;
  /** 0 = any free port. */
  port: number;
  /** Timing factor: 2 = twice as fast; 0 = no waiting at all. Default 1. */
  speed?: number;
}

/** A running replay server. */
export interface ReplayServer {
  addr: Deno.NetAddr;
  /** Disconnects every viewer and stops listening. */
  close(): Promise<void>;
}

/** Serves `plan` to every viewer that connects. */
export function serveReplay(plan: ReplayPlan, options: ReplayServerOptions): ReplayServer {
  const listener = Deno.listen({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port,
    transport: "tcp",
  });
  const stop = new AbortController();
  const conns = new Set<Deno.Conn>();
  const running = new Set<Promise<void>>();
  const speed = options.speed ?? 1;
  const loop = (async () => {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch {
        return;
      }
      try {
        conn.setNoDelay(true);
      } catch { /* not TCP */ }
      conns.add(conn);
      const peer = conn.remoteAddr as Deno.NetAddr;
      logInfo("replay: viewer connected", { client: `${peer.hostname}:${peer.port}` });
      const p = replayTo(conn, plan, speed, stop.signal)
        .catch((e) => {
          if (!stop.signal.aborted) {
            logWarn("replay: viewer failed", { error: e instanceof Error ? e.message : String(e) });
          }
        })
        .finally(() => {
          try {
            conn.close();
          } catch { /* closed */ }
          conns.delete(conn);
          running.delete(p);
          logInfo("replay: viewer left", { client: `${peer.hostname}:${peer.port}` });
        });
      running.add(p);
    }
  })();
  return {
    addr: listener.addr as Deno.NetAddr,
    async close() {
      stop.abort();
      try {
        listener.close();
      } catch { /* closed */ }
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await loop;
      await Promise.allSettled([...running]);
    },
  };
}

/** Help text for `vncws replay --help`. */
export const REPLAY_USAGE = `Usage: vncws replay FILE [--port P] [--host H] [--speed N]

Serves a --record recording (websockify format FILE.<n>, or compact *.vncrec)
as a VNC server, so a VNC viewer can watch the recorded session again.
Each viewer that connects sees the whole recording from the start.

  --port P     TCP port to listen on (default 5900)
  --host H     address to listen on (default 127.0.0.1)
  --speed N    playback speed: 2 = twice as fast, 0 = no pauses (default 1)

Watch in a browser: vncws 6080 127.0.0.1:5900, then open
http://127.0.0.1:6080/vnc.html?autoconnect=1
Recordings contain what the recorded user typed (passwords too): keep the
replay port private.
`;

/** Options for {@linkcode runReplay} (tests; the CLI passes none). */
export interface RunReplayOptions {
  /** Stops the replay (instead of SIGINT/SIGTERM). */
  signal?: AbortSignal;
  /** Called once it listens. */
  onListen?: (addr: Deno.NetAddr) => void;
}

/**
 * `vncws replay` entry point: `argv` is what follows `replay`. Resolves the
 * exit code: 0 after SIGINT/SIGTERM, 1 for an unreadable recording, 2 for
 * a usage error.
 */
export async function runReplay(argv: string[], options: RunReplayOptions = {}): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        port: { type: "string" },
        host: { type: "string" },
        speed: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    console.error(`vncws replay: ${(e as Error).message}\n\n${REPLAY_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(REPLAY_USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(`vncws replay: give exactly one recording file\n\n${REPLAY_USAGE}`);
    return 2;
  }
  const port = Number(values.port ?? 5900);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`vncws replay: --port ${values.port} is not a port number (0-65535)`);
    return 2;
  }
  const speed = Number(values.speed ?? 1);
  if (!Number.isFinite(speed) || speed < 0) {
    console.error(`vncws replay: --speed ${values.speed} must be a number ≥ 0 (0 = no pauses)`);
    return 2;
  }
  let plan: ReplayPlan;
  let files: string[];
  try {
    const rec = await readRecording(positionals[0]);
    files = rec.files;
    plan = planReplay(rec);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? `${positionals[0]} does not exist`
      : e instanceof Error
      ? e.message
      : String(e);
    console.error(`vncws replay: cannot replay ${positionals[0]}: ${why}`);
    return 1;
  }
  let server: ReplayServer;
  try {
    server = serveReplay(plan, { hostname: values.host ?? "127.0.0.1", port, speed });
  } catch (e) {
    console.error(`vncws replay: cannot listen on port ${port}: ${(e as Error).message}`);
    return 1;
  }
  const last = plan.updates.at(-1)?.ms ?? 0;
  logInfo(`replay listening on ${server.addr.hostname}:${server.addr.port}`, {
    files: files.join(","),
    desktop: plan.name,
    size: `${plan.width}x${plan.height}`,
    seconds: Math.round(last / 100) / 10,
    speed,
  });
  options.onListen?.(server.addr);
  await new Promise<void>((resolve) => {
    if (options.signal) {
      if (options.signal.aborted) resolve();
      options.signal.addEventListener("abort", () => resolve());
      return;
    }
    const onSignal = () => {
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
      resolve();
    };
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
  });
  await server.close();
  logInfo("replay stopped");
  return 0;
}
