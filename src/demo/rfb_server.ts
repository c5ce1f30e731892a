/**
 * The built-in demo RFB server (`vncws --demo`): RFB 3.8 (3.3 and 3.7 clients
 * accepted), security type None, raw encoding, any 8/16/32 bpp true-colour
 * pixel format. Incremental update requests wait until something changes and
 * then get only the changed rectangles, so an idle desktop costs one small
 * update a second. It is also the RFB target for tests and benchmarks.
 * @module
 */
import { DenoStream } from "../net/stream.ts";
import type { ByteStream } from "../net/stream.ts";
import { logDebug, logWarn } from "../base/log.ts";
import { DemoDesktop, type Rect } from "./desktop.ts";
import {
  decodePixelFormat,
  encodePixelFormat,
  encodePixels,
  type PixelFormat,
  SERVER_PIXEL_FORMAT,
} from "./pixel_format.ts";
import { concatBytes, u32be } from "../base/bytes.ts";

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

class EndOfStream extends Error {}

/** Buffered reads of exact sizes from a {@linkcode ByteStream}. */
class Reader {
  #stream: ByteStream;
  #buf = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;

  constructor(stream: ByteStream) {
    this.#stream = stream;
  }

  /** Returns the next `n` bytes (a view valid until the next call). */
  async take(n: number): Promise<Uint8Array> {
    if (this.#end - this.#start < n) {
      if (n > this.#buf.length) {
        const bigger = new Uint8Array(n);
        bigger.set(this.#buf.subarray(this.#start, this.#end));
        this.#end -= this.#start;
        this.#start = 0;
        this.#buf = bigger;
      } else if (this.#buf.length - this.#start < n) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
      while (this.#end - this.#start < n) {
        const r = await this.#stream.read(this.#buf.subarray(this.#end));
        if (r === null) throw new EndOfStream("client closed the connection");
        this.#end += r;
      }
    }
    const out = this.#buf.subarray(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  async u8(): Promise<number> {
    return (await this.take(1))[0];
  }

  async view(n: number): Promise<DataView> {
    const b = await this.take(n);
    return new DataView(b.buffer, b.byteOffset, n);
  }
}

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

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/** One client connection: handshake, then messages until the client leaves. */
class Session {
  #stream: ByteStream;
  #desktop: DemoDesktop;
  #reader: Reader;
  #format: PixelFormat = SERVER_PIXEL_FORMAT;
  #dirty: Rect[] = [];
  /** An incremental request waiting for something to change. */
  #pending: Rect | null = null;
  #flushQueued = false;
  #writing: Promise<void> = Promise.resolve();
  #failed = false;

  constructor(stream: ByteStream, desktop: DemoDesktop) {
    this.#stream = stream;
    this.#desktop = desktop;
    this.#reader = new Reader(stream);
  }

  async run(): Promise<void> {
    if (!(await this.#handshake())) return;
    const unsubscribe = this.#desktop.subscribe((rect) => this.#damage(rect));
    try {
      for (;;) {
        await this.#message(await this.#reader.u8());
        if (this.#failed) return;
      }
    } finally {
      unsubscribe();
      await this.#writing;
    }
  }

  #write(data: Uint8Array): void {
    this.#writing = this.#writing.then(async () => {
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
    this.#write(encoder.encode("RFB 003.008\n"));
    const version = latin1.decode(await this.#reader.take(12));
    const m = /^RFB (\d{3})\.(\d{3})\n$/.exec(version);
    if (!m || Number(m[1]) !== 3) {
      throw new Error(`client sent an unknown protocol version ${JSON.stringify(version)}`);
    }
    // RFC 6143 §7.1.1: unknown minor versions below 7 are treated as 3.3.
    const minor = Number(m[2]) >= 8 ? 8 : Number(m[2]) === 7 ? 7 : 3;
    if (minor === 3) {
      this.#write(u32be(1)); // the server picks None
    } else {
      this.#write(new Uint8Array([1, 1])); // one type offered: None
      const choice = await this.#reader.u8();
      if (choice !== 1) {
        if (minor === 8) {
          const reason = encoder.encode("the demo server only offers security type None (1)");
          this.#write(concatBytes([u32be(1), u32be(reason.length), reason]));
        }
        await this.#writing;
        return false;
      }
      if (minor === 8) this.#write(u32be(0)); // SecurityResult OK
    }
    await this.#reader.u8(); // ClientInit shared-flag: every client shares the one desktop
    const name = encoder.encode(this.#desktop.name);
    const init = new Uint8Array(24 + name.length);
    const v = new DataView(init.buffer);
    v.setUint16(0, this.#desktop.width);
    v.setUint16(2, this.#desktop.height);
    init.set(encodePixelFormat(SERVER_PIXEL_FORMAT), 4);
    v.setUint32(20, name.length);
    init.set(name, 24);
    this.#write(init);
    return true;
  }

  async #message(type: number): Promise<void> {
    const r = this.#reader;
    switch (type) {
      case 0: { // SetPixelFormat
        const b = await r.take(19);
        this.#format = decodePixelFormat(b.subarray(3));
        return;
      }
      case 2: { // SetEncodings: only raw is ever sent, which every client accepts
        const v = await r.view(3);
        await r.take(4 * v.getUint16(1));
        return;
      }
      case 3: { // FramebufferUpdateRequest
        const v = await r.view(9);
        const rect = { x: v.getUint16(1), y: v.getUint16(3), w: v.getUint16(5), h: v.getUint16(7) };
        this.#request(v.getUint8(0) !== 0, rect);
        return;
      }
      case 4: { // KeyEvent
        const v = await r.view(7);
        this.#desktop.keyEvent(v.getUint8(0) !== 0, v.getUint32(3));
        return;
      }
      case 5: { // PointerEvent
        const v = await r.view(5);
        this.#desktop.pointerEvent(v.getUint8(0), v.getUint16(1), v.getUint16(3));
        return;
      }
      case 6: { // ClientCutText; a negative length is the extended-clipboard form
        const v = await r.view(7);
        const len = Math.abs(v.getInt32(3));
        if (len > MAX_CUT_TEXT) {
          throw new Error(`client clipboard text of ${len} bytes exceeds ${MAX_CUT_TEXT} bytes`);
        }
        const text = await r.take(len);
        if (v.getInt32(3) >= 0) this.#desktop.cutText(latin1.decode(text));
        return;
      }
      case 150: // EnableContinuousUpdates (never offered, so ignored)
        await r.take(9);
        return;
      case 248: { // ClientFence (never offered, so ignored)
        const v = await r.view(8);
        await r.take(v.getUint8(7));
        return;
      }
      case 251: { // SetDesktopSize: the demo keeps its size
        const v = await r.view(7);
        await r.take(16 * v.getUint8(5));
        return;
      }
      case 255: { // QEMU client message; only the extended key event is known
        const sub = await r.u8();
        if (sub !== 0) throw new Error(`unknown QEMU client message subtype ${sub}`);
        const v = await r.view(10);
        this.#desktop.keyEvent(v.getUint16(0) !== 0, v.getUint32(2));
        return;
      }
      default:
        throw new Error(`unknown RFB client message type ${type}; closing`);
    }
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
  return e instanceof EndOfStream || e instanceof Deno.errors.ConnectionReset ||
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
  const listener = Deno.listen({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
  });
  const streams = new Set<ByteStream>();
  const sessions = new Set<Promise<void>>();
  const accepting = (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        return; // listener closed
      }
      const stream = new DenoStream(conn);
      streams.add(stream);
      logDebug("demo: client connected", { peer: stream.peer });
      const session = serveDemoClient(stream, { desktop })
        .catch((e) => logWarn(`demo: ${e instanceof Error ? e.message : e}`, { peer: stream.peer }))
        .finally(() => {
          streams.delete(stream);
          sessions.delete(session);
          logDebug("demo: client left", { peer: stream.peer });
        });
      sessions.add(session);
    }
  })();
  return Promise.resolve({
    addr: listener.addr as Deno.NetAddr,
    desktop,
    async close() {
      try {
        listener.close();
      } catch { /* already closed */ }
      await accepting;
      for (const s of streams) s.close();
      await Promise.all([...sessions]);
    },
  });
}
