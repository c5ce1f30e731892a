/**
 * The built-in demo RFB server (`vncws --demo`): RFB 3.8 (3.3 and 3.7 clients
 * accepted), security type None, raw encoding, any 8/16/32 bpp true-colour
 * pixel format. Incremental update requests wait until something changes and
 * then get only the changed rectangles, so an idle desktop costs one small
 * update a second. A viewer that asks for QEMU audio (pseudo-encoding -259)
 * hears a 440 Hz test tone (src/demo/audio.ts); one that lists xvp (-309)
 * gets power actions, shown on the desktop and logged (src/demo/xvp.ts),
 * never acted on. It is also the RFB target
 * for tests and benchmarks.
 * @module
 */
import { type ByteStream, DenoStream } from "../net/stream.ts";
import { logDebug, logWarn } from "../base/log.ts";
import { acceptLoop, type Acceptor } from "../base/accept_loop.ts";
import { RfbEndOfStream, RfbReader } from "../rfb/reader.ts";
import { encodeServerInit, serverHandshake } from "../rfb/handshake.ts";
import { encodePixelFormat } from "../rfb/pixel_format.ts";
import {
  type ClientMessage,
  decodeClientMessage,
  type QemuAudioMessage,
  QemuAudioOperation,
  readClientMessage,
} from "../rfb/client_messages.ts";
import { audioAnnouncement, audioFormatProblem, QEMU_AUDIO_ENCODING, ToneStream } from "./audio.ts";
import { DemoDesktop, type Rect } from "./desktop.ts";
import { XVP_ENCODING, xvpAction, XvpCode, xvpMessage } from "./xvp.ts";
import {
  encodePixels,
  type PixelFormat,
  SERVER_PIXEL_FORMAT,
  supportedPixelFormat,
} from "./pixel_format.ts";

export { DemoDesktop } from "./desktop.ts";

/** Options for {@linkcode serveDemoClient}. */
export interface ServeDemoOptions {
  /** The shared desktop; a private one of `width`×`height` when omitted. */
  desktop?: DemoDesktop;
  /** Size of a private desktop (default 800). */
  width?: number;
  /** Size of a private desktop (default 600). */
  height?: number;
}

/** Options for {@linkcode startDemoServer}. */
export interface DemoServerOptions {
  /** Listen address (default 127.0.0.1). */
  hostname?: string;
  /** Listen port (default 0 = any free port). */
  port?: number;
  /** Framebuffer width (default 800). */
  width?: number;
  /** Framebuffer height (default 600). */
  height?: number;
  /** Accept from this listener instead of opening one on `hostname`:`port`. */
  listener?: Acceptor<Deno.Conn> & { readonly addr: Deno.Addr };
}

/** A running demo server. */
export interface DemoServer {
  /** The address it listens on (with the real port when 0 was asked). */
  addr: Deno.NetAddr;
  /** The desktop all its clients share. */
  desktop: DemoDesktop;
  /** Stops listening, disconnects every client and waits for them to finish. */
  close(): Promise<void>;
}

/** Largest ClientCutText accepted; the demo only shows the first few characters. */
const MAX_CUT_TEXT = 1 << 20;
/** Above this many pending dirty rectangles, send their bounding box instead. */
const MAX_DIRTY_RECTS = 16;

function intersect(a: Rect, b: Rect): Rect | null {
  const x = Math.max(a.x, b.x), y = Math.max(a.y, b.y);
  const x2 = Math.min(a.x + a.w, b.x + b.w), y2 = Math.min(a.y + a.h, b.y + b.h);
  return x2 > x && y2 > y ? { x, y, w: x2 - x, h: y2 - y } : null;
}

function contains(outer: Rect, inner: Rect): boolean {
  return inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.w <= outer.x + outer.w &&
    inner.y + inner.h <= outer.y + outer.h;
}

function boundingBox(rects: Rect[]): Rect {
  const x = Math.min(...rects.map((r) => r.x)), y = Math.min(...rects.map((r) => r.y));
  const x2 = Math.max(...rects.map((r) => r.x + r.w)),
    y2 = Math.max(...rects.map((r) => r.y + r.h));
  return { x, y, w: x2 - x, h: y2 - y };
}

const latin1 = new TextDecoder("latin1");

/** One client connection: handshake, then messages until the client leaves. */
class Session {
  #stream: ByteStream;
  #desktop: DemoDesktop;
  #reader: RfbReader;
  #format: PixelFormat = SERVER_PIXEL_FORMAT;
  #dirty: Rect[] = [];
  /** An incremental request waiting for something to change. */
  #pending: Rect | null = null;
  #flushQueued = false;
  #writing: Promise<void> = Promise.resolve();
  #failed = false;
  /** The 440 Hz tone, for a viewer that asked for QEMU audio. */
  #tone = new ToneStream((data) => this.#write(data));
  #audioAnnounced = false;
  #xvpAnnounced = false;

  constructor(stream: ByteStream, desktop: DemoDesktop) {
    this.#stream = stream;
    this.#desktop = desktop;
    this.#reader = new RfbReader(stream);
  }

  async run(): Promise<void> {
    if (!(await this.#handshake())) return;
    const unsubscribe = this.#desktop.subscribe((rect) => this.#damage(rect));
    try {
      for (;;) {
        const msg = await readClientMessage(this.#reader, { maxCutText: MAX_CUT_TEXT });
        this.#message(decodeClientMessage(msg));
        if (this.#failed) return;
      }
    } finally {
      unsubscribe();
      this.#tone.stop(false);
      await this.#writing;
    }
  }

  /** Queues `data` behind earlier messages; resolves once it is written (or dropped). */
  #write(data: Uint8Array): Promise<void> {
    return this.#writing = this.#writing.then(async () => {
      if (this.#failed) return;
      try {
        await this.#stream.writeAll(data);
      } catch {
        // The peer went away; the read loop sees EOF or an error next.
        this.#failed = true;
        this.#stream.close();
      }
    });
  }

  /** Returns false when the client was refused (after telling it why). */
  async #handshake(): Promise<boolean> {
    const d = this.#desktop;
    const result = await serverHandshake(this.#stream, this.#reader, {
      serverInit: encodeServerInit({
        width: d.width,
        height: d.height,
        pixelFormat: encodePixelFormat(SERVER_PIXEL_FORMAT),
        name: d.name,
      }),
      refusal: "the demo server only offers security type None (1)",
    });
    // ClientInit's shared flag is not looked at: every client shares the one desktop.
    return result.ok;
  }

  #message(msg: ClientMessage): void {
    switch (msg.kind) {
      case "SetPixelFormat":
        this.#format = supportedPixelFormat(msg.pixelFormat);
        return;
      case "FramebufferUpdateRequest":
        this.#request(msg.incremental, msg.rect);
        return;
      case "KeyEvent":
      case "QemuExtendedKeyEvent":
        // Logged (debug) so tests and operators can see what a viewer's keys became.
        logDebug("demo: key", { keysym: `0x${msg.keysym.toString(16)}`, down: msg.down });
        this.#desktop.keyEvent(msg.down, msg.keysym);
        return;
      case "SetEncodings":
        // Only raw is ever sent, which every client accepts; QEMU audio is announced once.
        if (!this.#audioAnnounced && msg.encodings.includes(QEMU_AUDIO_ENCODING)) {
          this.#audioAnnounced = true;
          void this.#write(audioAnnouncement(this.#desktop.width, this.#desktop.height));
        }
        if (!this.#xvpAnnounced && msg.encodings.includes(XVP_ENCODING)) {
          this.#xvpAnnounced = true;
          void this.#write(xvpMessage(XvpCode.Init));
        }
        return;
      case "Xvp":
        this.#xvp(msg);
        return;
      case "QemuAudio":
        this.#audio(msg);
        return;
      case "PointerEvent":
        this.#desktop.pointerEvent(msg.buttons, msg.x, msg.y);
        return;
      case "ClientCutText": // the extended-clipboard form is ignored
        if (!msg.extended) this.#desktop.cutText(latin1.decode(msg.text));
        return;
        // EnableContinuousUpdates, ClientFence: never offered, so ignored.
        // SetDesktopSize: the demo keeps its size.
    }
  }

  /** A power action: shown and logged, never done; what the demo cannot do fails. */
  #xvp(msg: { version: number; code: number }): void {
    const action = xvpAction(msg, this.#xvpAnnounced);
    logDebug("demo: power", { action: action ?? "refused", version: msg.version, code: msg.code });
    if (action === undefined) void this.#write(xvpMessage(XvpCode.Fail));
    else this.#desktop.power(action);
  }

  /** A QEMU audio client message: the tone starts, stops or changes format. */
  #audio(msg: QemuAudioMessage): void {
    if (msg.operation === QemuAudioOperation.SetFormat) {
      const { sampleFormat, channels, frequency } = msg;
      const format = { sampleFormat, channels, frequency };
      const problem = audioFormatProblem(format);
      if (problem) logDebug("demo: audio format not supported; keeping the last one", { problem });
      else this.#tone.setFormat(format);
    } else if (msg.operation === QemuAudioOperation.Enable) this.#tone.start();
    else this.#tone.stop();
  }

  #request(incremental: boolean, want: Rect): void {
    const d = this.#desktop;
    const area = intersect(want, { x: 0, y: 0, w: d.width, h: d.height });
    if (!area) {
      this.#sendUpdate([]);
      return;
    }
    if (!incremental) {
      this.#dirty = this.#dirty.filter((r) => !contains(area, r));
      this.#pending = null;
      this.#sendUpdate([area]);
      return;
    }
    this.#pending = area;
    this.#flush();
  }

  #damage(rect: Rect): void {
    if (this.#dirty.some((r) => contains(r, rect))) return;
    this.#dirty = this.#dirty.filter((r) => !contains(rect, r));
    this.#dirty.push(rect);
    if (this.#dirty.length > MAX_DIRTY_RECTS) this.#dirty = [boundingBox(this.#dirty)];
    if (this.#pending && !this.#flushQueued) {
      // Batch the damage of one event-loop turn into one update.
      this.#flushQueued = true;
      queueMicrotask(() => {
        this.#flushQueued = false;
        this.#flush();
      });
    }
  }

  /** Answers the pending incremental request if something inside it changed. */
  #flush(): void {
    const want = this.#pending;
    if (!want) return;
    const send: Rect[] = [];
    const keep: Rect[] = [];
    for (const r of this.#dirty) {
      const part = intersect(r, want);
      if (part) send.push(part);
      if (!contains(want, r)) keep.push(r); // the part outside waits for a wider request
    }
    if (send.length === 0) return;
    this.#dirty = keep;
    this.#pending = null;
    this.#sendUpdate(send);
  }

  #sendUpdate(rects: Rect[]): void {
    const bpp = this.#format.bitsPerPixel / 8;
    const size = 4 + rects.reduce((n, r) => n + 12 + r.w * r.h * bpp, 0);
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    view.setUint8(0, 0); // FramebufferUpdate
    view.setUint16(2, rects.length);
    let off = 4;
    for (const r of rects) {
      view.setUint16(off, r.x);
      view.setUint16(off + 2, r.y);
      view.setUint16(off + 4, r.w);
      view.setUint16(off + 6, r.h);
      view.setInt32(off + 8, 0); // raw encoding
      off = encodePixels(
        this.#format,
        this.#desktop.pixels,
        { ...r, stride: this.#desktop.width },
        { view, offset: off + 12 },
      );
    }
    this.#write(out);
  }
}

function isDisconnect(e: unknown): boolean {
  return e instanceof RfbEndOfStream || e instanceof Deno.errors.ConnectionReset ||
    e instanceof Deno.errors.BrokenPipe || e instanceof Deno.errors.BadResource ||
    e instanceof Deno.errors.Interrupted || e instanceof Deno.errors.NotConnected;
}

/**
 * Serves one RFB client on `stream` until it disconnects, then closes the
 * stream. Resolves on disconnect; rejects on a protocol error (after closing).
 */
export async function serveDemoClient(
  stream: ByteStream,
  options: ServeDemoOptions = {},
): Promise<void> {
  const desktop = options.desktop ??
    new DemoDesktop({ width: options.width, height: options.height });
  try {
    await new Session(stream, desktop).run();
  } catch (e) {
    if (!isDisconnect(e)) throw e;
  } finally {
    stream.close();
  }
}

/** Starts a demo RFB server on a TCP port (127.0.0.1 and any free port by default). */
export function startDemoServer(options: DemoServerOptions = {}): Promise<DemoServer> {
  const desktop = new DemoDesktop({ width: options.width, height: options.height });
  const listener = options.listener ?? Deno.listen({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
  });
  const streams = new Set<ByteStream>();
  const loop = acceptLoop(listener, async (conn) => {
    const stream = new DenoStream(conn);
    streams.add(stream);
    logDebug("demo: client connected", { peer: stream.peer });
    try {
      await serveDemoClient(stream, { desktop });
    } catch (e) {
      logWarn(`demo: ${e instanceof Error ? e.message : e}`, { peer: stream.peer });
    } finally {
      streams.delete(stream);
      logDebug("demo: client left", { peer: stream.peer });
    }
  }, { name: "demo" });
  return Promise.resolve({
    addr: listener.addr as Deno.NetAddr,
    desktop,
    async close() {
      loop.stop();
      for (const s of streams) s.close();
      await loop.finished;
    },
  });
}
