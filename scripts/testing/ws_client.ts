/**
 * A small WebSocket client for tests that need exact control over frames
 * (bad masks, odd opcodes, fragmentation). Real clients (python, npm ws,
 * noVNC) are used in the tests too; this one is for the protocol corners.
 * @module
 */
import { readToEof } from "./util.ts";
import {
  closePayload,
  encodeFrame,
  FrameDecoder,
  type FrameEvent,
  Opcode,
} from "../../src/ws/frame.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A raw HTTP response head read from a socket. */
export interface RawResponse {
  status: number;
  head: string;
  /** Bytes after the head (body, or the first frames after a 101). */
  rest: Uint8Array;
}

/** Reads until the end of an HTTP response head (or EOF). */
export async function readResponse(conn: Deno.Conn): Promise<RawResponse> {
  let buf = new Uint8Array(0);
  const chunk = new Uint8Array(65536);
  for (;;) {
    const text = dec.decode(buf);
    const i = text.indexOf("\r\n\r\n");
    if (i >= 0) {
      const headLen = enc.encode(text.slice(0, i + 4)).length;
      return {
        status: Number(text.slice(9, 12)),
        head: text.slice(0, i),
        rest: buf.slice(headLen),
      };
    }
    const n = await conn.read(chunk);
    if (n === null) return { status: 0, head: text, rest: new Uint8Array(0) };
    const b = new Uint8Array(buf.length + n);
    b.set(buf);
    b.set(chunk.subarray(0, n), buf.length);
    buf = b;
  }
}

/** Reads a whole response (head + body to EOF) as text. */
export async function readAll(conn: Deno.Conn): Promise<string> {
  return dec.decode(await readToEof(conn));
}

/** Options for {@linkcode wsConnect}. */
export interface WsConnectOptions {
  path?: string;
  headers?: Record<string, string>;
  protocols?: string;
  hostname?: string;
}

/** A connected test client. */
export class TestWs {
  readonly conn: Deno.Conn;
  readonly response: RawResponse;
  #decoder = new FrameDecoder({ expectMasked: false });
  #pending: FrameEvent[] = [];
  #buf = new Uint8Array(65536);
  #parts: Uint8Array[] = [];

  constructor(conn: Deno.Conn, response: RawResponse) {
    this.conn = conn;
    this.response = response;
    if (response.status === 101 && response.rest.length) this.#feed(response.rest);
  }

  #feed(bytes: Uint8Array) {
    this.#decoder.push(bytes);
    for (let ev = this.#decoder.next(); ev; ev = this.#decoder.next()) {
      if (ev.kind === "data") {
        this.#parts.push(ev.bytes.slice());
        if (ev.fin) {
          const total = this.#parts.reduce((a, p) => a + p.length, 0);
          const data = new Uint8Array(total);
          let o = 0;
          for (const p of this.#parts) {
            data.set(p, o);
            o += p.length;
          }
          this.#parts = [];
          this.#pending.push({ kind: "data", opcode: ev.opcode, bytes: data, fin: true });
        }
      } else this.#pending.push({ ...ev });
    }
  }

  /** Next whole message or control frame; null at EOF. */
  async next(): Promise<FrameEvent | null> {
    while (this.#pending.length === 0) {
      const n = await this.conn.read(this.#buf).catch(() => null);
      if (n === null) return null;
      this.#feed(this.#buf.slice(0, n));
    }
    return this.#pending.shift()!;
  }

  /** Reads data messages until `n` bytes arrived; returns them. */
  async readBytes(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const ev = await this.next();
      if (ev === null) throw new Error(`EOF after ${off} of ${n} bytes`);
      if (ev.kind !== "data") continue;
      out.set(ev.bytes.subarray(0, n - off), off);
      off += ev.bytes.length;
    }
    return out;
  }

  /** Sends a frame (masked unless `mask: null`). */
  async send(
    opcode: number,
    data: Uint8Array | string,
    options: { fin?: boolean; mask?: Uint8Array | null } = {},
  ) {
    const payload = typeof data === "string" ? enc.encode(data) : data;
    const mask = options.mask === null
      ? undefined
      : options.mask ?? crypto.getRandomValues(new Uint8Array(4));
    const frame = encodeFrame(opcode, payload, { fin: options.fin, mask });
    let off = 0;
    while (off < frame.length) off += await this.conn.write(frame.subarray(off));
  }

  /** Sends binary data. */
  sendBinary(data: Uint8Array | string) {
    return this.send(Opcode.Binary, data);
  }

  /** Sends a close frame. */
  sendClose(code = 1000, reason = "") {
    return this.send(Opcode.Close, closePayload(code, reason));
  }

  /** Waits for the close frame; returns its code and reason (or null at EOF without one). */
  async waitClose(): Promise<{ code: number; reason: string } | null> {
    for (;;) {
      const ev = await this.next();
      if (ev === null) return null;
      if (ev.kind === "close") return { code: ev.code, reason: ev.reason };
    }
  }

  /**
   * The close frame within `ms` (a deadline, not a timing assertion), or
   * "still open"; then the socket's read stays pending, so read nothing more.
   */
  async closeWithin(ms: number): Promise<{ code: number; reason: string } | null | "still open"> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<"still open">((resolve) => {
      timer = setTimeout(() => resolve("still open"), ms);
    });
    try {
      return await Promise.race([this.waitClose(), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  close() {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

/** `n` random bytes (crypto.getRandomValues takes at most 64 KiB at a time). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) {
    crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65536)));
  }
  return out;
}

/** A random valid Sec-WebSocket-Key. */
export function randomKey(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
}

/**
 * An upgrade request head for `path` (default `/websockify`) with extra header
 * lines; a header given as undefined is left out.
 */
export function upgradeRequest(
  port: number,
  options: {
    path?: string;
    headers?: Record<string, string | undefined>;
    requestLine?: string;
  } = {},
): string {
  const headers: Record<string, string | undefined> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Key": randomKey(),
    "Sec-WebSocket-Version": "13",
    ...options.headers,
  };
  let s = options.requestLine ?? `GET ${options.path ?? "/websockify"} HTTP/1.1`;
  s += "\r\n";
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) s += `${k}: ${v}\r\n`;
  return s + "\r\n";
}

/** Opens a WebSocket to vncws on `port`; the response status is in `.response.status`. */
export async function wsConnect(port: number, options: WsConnectOptions = {}): Promise<TestWs> {
  const conn = await Deno.connect({ hostname: options.hostname ?? "127.0.0.1", port });
  const headers: Record<string, string | undefined> = {
    ...(options.protocols ? { "Sec-WebSocket-Protocol": options.protocols } : {}),
    ...options.headers,
  };
  // Here an empty value leaves the header out (tests of missing headers).
  for (const [k, v] of Object.entries(headers)) if (v === "") headers[k] = undefined;
  await conn.write(enc.encode(upgradeRequest(port, { path: options.path, headers })));
  return new TestWs(conn, await readResponse(conn));
}
