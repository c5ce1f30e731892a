/**
 * Helpers for the bridge tests: the bridge as a real process, fd counting
 * from /proc, and a small in-process WebSocket server whose behaviour each
 * test chooses. Certificates come from ../tls/_certs.ts, socket reading and
 * writing from ../_util.ts.
 * @module
 */
import { acceptKey } from "../../src/ws/handshake.ts";
import { encodeFrame, FrameDecoder, Opcode } from "../../src/ws/frame.ts";
import { MAIN, type Proc, startProcess, writeAll } from "../../scripts/testing/util.ts";
import { fdCount } from "../../scripts/testing/proc.ts";
import { socketInodes } from "../../src/base/procfs.ts";

/** Starts `vncws bridge ARGS` and waits for its "listening on" line. */
export async function startBridge(
  args: string[],
  options: { env?: Record<string, string> } = {},
): Promise<Proc> {
  const p = startBridgeProcess(args, options);
  await p.waitFor("bridge listening on", 20000);
  return p;
}

/** Starts `vncws bridge ARGS` without waiting (for failures and --stdio). */
export function startBridgeProcess(
  args: string[],
  options: { env?: Record<string, string> } = {},
): Proc {
  return startProcess(Deno.execPath(), ["run", "-A", MAIN, "bridge", ...args], options);
}

/** Open file descriptors of a process, and how many are sockets. */
export function countFds(pid: number): { total: number; sockets: number } {
  return { total: fdCount(pid), sockets: socketInodes(pid).size };
}

/** Waits until `count` matches of `pattern` appear in a process's output. */
export async function waitForCount(
  p: Proc,
  pattern: RegExp,
  count: number,
  timeoutMs = 20000,
  pollMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const g = new RegExp(pattern.source, "g");
  while ((p.output().match(g)?.length ?? 0) < count) {
    if (Date.now() > deadline) {
      throw new Error(
        `saw ${p.output().match(g)?.length ?? 0} of ${count} ${pattern}; output:\n` +
          p.output().slice(-3000),
      );
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** What the scripted server does with one connection. */
export type ServerAction = (conn: Deno.Conn, request: string, index: number) => Promise<void>;

/** A scripted server on 127.0.0.1: each connection's request head goes to `action`. */
export interface ScriptedServer {
  port: number;
  /** Request heads received, in order. */
  requests: string[];
  close(): Promise<void>;
}

/** Reads a request head (up to the blank line) from `conn`; "" at EOF. */
async function readHead(conn: Deno.Conn): Promise<{ head: string; rest: Uint8Array }> {
  let buf = new Uint8Array(0);
  const chunk = new Uint8Array(4096);
  for (;;) {
    const text = dec.decode(buf);
    const i = text.indexOf("\r\n\r\n");
    if (i >= 0) return { head: text.slice(0, i), rest: buf.slice(i + 4) };
    const n = await conn.read(chunk);
    if (n === null) return { head: "", rest: new Uint8Array(0) };
    const b = new Uint8Array(buf.length + n);
    b.set(buf);
    b.set(chunk.subarray(0, n), buf.length);
    buf = b;
  }
}

/** Starts a server that hands every connection (after its request head) to `action`. */
export function startScriptedServer(
  action: ServerAction,
  options: { tls?: { cert: string; key: string } } = {},
): ScriptedServer {
  const listener = options.tls
    ? Deno.listenTls({ hostname: "127.0.0.1", port: 0, ...options.tls })
    : Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const requests: string[] = [];
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  let index = 0;
  const loop = (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        return;
      }
      conns.add(conn);
      const i = index++;
      const t = (async () => {
        try {
          const { head } = await readHead(conn);
          requests.push(head);
          await action(conn, head, i);
        } catch { /* the peer went away: part of what tests do */ }
        try {
          conn.close();
        } catch { /* closed by the action */ }
        conns.delete(conn);
      })();
      tasks.add(t);
      t.finally(() => tasks.delete(t));
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    requests,
    async close() {
      try {
        listener.close();
      } catch { /* closed before */ }
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await loop;
      await Promise.allSettled([...tasks]);
    },
  };
}

/** Answers a request head with a 101 (with `protocol` when given). */
export async function accept101(conn: Deno.Conn, head: string, protocol?: string): Promise<void> {
  const key = /sec-websocket-key:\s*(\S+)/i.exec(head)?.[1] ?? "";
  await writeAll(
    conn,
    enc.encode(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n` +
        (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : "") + "\r\n",
    ),
  );
}

/** Server-side frames from a connection (client frames must be masked). */
export class ServerFrames {
  readonly #conn: Deno.Conn;
  readonly #decoder = new FrameDecoder({ expectMasked: true });
  readonly #buf = new Uint8Array(65536);
  #events: Array<{ kind: string; bytes?: Uint8Array; code?: number }> = [];

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** The next event: data chunk, ping, pong or close; null at EOF. */
  async next(): Promise<{ kind: string; bytes?: Uint8Array; code?: number } | null> {
    while (this.#events.length === 0) {
      const n = await this.#conn.read(this.#buf);
      if (n === null) return null;
      this.#decoder.push(this.#buf.subarray(0, n));
      for (let ev = this.#decoder.next(); ev; ev = this.#decoder.next()) {
        if (ev.kind === "data") this.#events.push({ kind: "data", bytes: ev.bytes.slice() });
        else if (ev.kind === "close") this.#events.push({ kind: "close", code: ev.code });
        else this.#events.push({ kind: ev.kind, bytes: ev.payload.slice() });
      }
    }
    return this.#events.shift()!;
  }

  /** Sends an unmasked server frame. */
  send(opcode: number, payload: Uint8Array): Promise<void> {
    return writeAll(this.#conn, encodeFrame(opcode, payload));
  }

  /** Sends binary data. */
  sendBinary(payload: Uint8Array): Promise<void> {
    return this.send(Opcode.Binary, payload);
  }
}
