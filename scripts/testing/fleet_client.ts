/**
 * A WebSocket client that runs as a process inside a host of a test network
 * (scripts/testing/netns.ts), so that its connections come from that host's
 * address, and that a test drives from outside through {@linkcode FleetClient}.
 *
 * The process reads one JSON command a line on stdin and writes one JSON
 * event a line on stdout, each naming the session (`id`) first:
 *
 * - `{"op":"open","id","url","headers"?}` → `{"id","ev":"open","status":101,"banner"}`
 *   (the target's first 12 bytes, e.g. `RFB 003.008\n`), `{"id","ev":"refused","status"}`
 *   or `{"id","ev":"error","message"}`; an open session later ends with
 *   `{"id","ev":"closed","code"}` (code 0: the connection ended without a close frame).
 * - `{"op":"close","id"}` → the session sends close 1000; its `closed` event follows.
 * - `{"op":"stream","id","url","bytes","chunk","intervalMs"}`: opens a session to an
 *   echo target, sends `bytes` pseudo-random bytes, `chunk` at a time every
 *   `intervalMs`, and checks every byte that comes back. When all came back
 *   right: `{"id","ev":"done","sent","verified"}`, then it closes (1000) and its
 *   `closed` event follows. A session that ends before says so in `closed`
 *   with `sent` and `verified`; a wrong byte is `{"id","ev":"corrupt","at"}`.
 * @module
 */
import { type TestWs, wsConnect } from "./ws_client.ts";
import { ByteGen } from "./soak_target.ts";
import type { Network } from "./netns.ts";
import type { Proc } from "./util.ts";

/** This file's path, for starting it as a process. */
const SELF = new URL(import.meta.url).pathname;

/** One event of the client process. */
export interface FleetEvent {
  /** The session it is about. */
  id: string;
  /** What happened. */
  ev: "open" | "refused" | "error" | "closed" | "done" | "corrupt";
  /** HTTP status of the handshake (open, refused). */
  status?: number;
  /** The target's first bytes (open). */
  banner?: string;
  /** WebSocket close code (closed; 0 when the connection ended without one). */
  code?: number;
  /** What went wrong (error). */
  message?: string;
  /** Bytes sent so far (stream sessions). */
  sent?: number;
  /** Bytes that came back and were right (stream sessions). */
  verified?: number;
  /** Stream offset of the first wrong byte (corrupt). */
  at?: number;
}

/** What a stream session sends: {@linkcode FleetClient.stream}. */
export interface StreamPlan {
  /** Bytes to send in all. */
  bytes: number;
  /** Bytes per message. */
  chunk: number;
  /** Pause between messages. */
  intervalMs: number;
}

/** Drives a client process in one host of a network. */
export class FleetClient {
  readonly #proc: Proc;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;

  private constructor(proc: Proc) {
    this.#proc = proc;
    this.#writer = proc.child.stdin.getWriter();
  }

  /** Starts the client process in host `host` of `net` and waits until it is ready. */
  static async start(net: Network, host: string): Promise<FleetClient> {
    const proc = net.start(host, Deno.execPath(), ["run", "-A", SELF], { stdin: "piped" });
    await proc.waitFor("fleet client ready", 20_000);
    return new FleetClient(proc);
  }

  /** Every event so far, in order. */
  events(): FleetEvent[] {
    return this.#proc.output().split("\n").filter((l) => l.startsWith('{"id"')).map((l) =>
      JSON.parse(l)
    );
  }

  /** The first event of session `id` whose kind is one of `kinds`, waited for. */
  async #waitEvent(id: string, kinds: string[], timeoutMs = 20_000): Promise<FleetEvent> {
    const key = JSON.stringify(id);
    await this.#proc.waitFor(
      new RegExp(`^\\{"id":${escape(key)},"ev":"(${kinds.join("|")})"`, "m"),
      timeoutMs,
    );
    return this.events().find((e) => e.id === id && kinds.includes(e.ev))!;
  }

  async #send(command: Record<string, unknown>): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(command) + "\n"));
  }

  /** Opens session `id` to `url`; resolves with its `open`, `refused` or `error` event. */
  async open(id: string, url: string, headers?: Record<string, string>): Promise<FleetEvent> {
    await this.#send({ op: "open", id, url, headers });
    return await this.#waitEvent(id, ["open", "refused", "error"]);
  }

  /** Starts stream session `id` to an echo target at `url`; resolves with its first event. */
  async stream(id: string, url: string, plan: StreamPlan): Promise<FleetEvent> {
    await this.#send({ op: "stream", id, url, ...plan });
    return await this.#waitEvent(id, ["open", "refused", "error"]);
  }

  /** Closes session `id` (close 1000) and waits for its end. */
  async close(id: string): Promise<FleetEvent> {
    await this.#send({ op: "close", id });
    return await this.ended(id);
  }

  /** Waits for session `id` to end; resolves with its `closed` event. */
  ended(id: string, timeoutMs = 20_000): Promise<FleetEvent> {
    return this.#waitEvent(id, ["closed"], timeoutMs);
  }

  /** Whether session `id` has ended (so far). */
  hasEnded(id: string): boolean {
    return this.events().some((e) => e.id === id && e.ev === "closed");
  }

  /** Stops the client process (by PID; its sessions end with it). */
  async stop(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.#proc.stop();
  }
}

/** `text` with the characters a RegExp gives meaning escaped. */
function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The client process: commands on stdin, events on stdout. */
async function serve(): Promise<void> {
  const sessions = new Map<string, TestWs>();
  const emit = (e: FleetEvent) => console.log(JSON.stringify(e));
  /** Opens a session and reads the banner; undefined when it did not open (event emitted). */
  const connect = async (
    id: string,
    url: URL,
    headers: Record<string, string> = {},
  ): Promise<TestWs | undefined> => {
    let ws: TestWs;
    try {
      ws = await wsConnect(Number(url.port || 80), {
        hostname: url.hostname,
        path: url.pathname + url.search,
        headers,
      });
    } catch (e) {
      emit({ id, ev: "error", message: e instanceof Error ? e.message : String(e) });
      return undefined;
    }
    const status = ws.response.status;
    if (status !== 101) {
      ws.close();
      emit({ id, ev: "refused", status });
      return undefined;
    }
    sessions.set(id, ws);
    let banner: Uint8Array;
    try {
      banner = await ws.readBytes(12);
    } catch (e) {
      sessions.delete(id);
      ws.close();
      emit({ id, ev: "error", message: e instanceof Error ? e.message : String(e) });
      return undefined;
    }
    emit({ id, ev: "open", status, banner: new TextDecoder().decode(banner) });
    return ws;
  };
  const open = async (id: string, url: URL, headers: Record<string, string> = {}) => {
    const ws = await connect(id, url, headers);
    if (!ws) return;
    // Until the session ends: its close code, or 0 when the connection just ended.
    let code = 0;
    for (let f = await ws.next(); f !== null; f = await ws.next()) {
      if (f.kind === "close") {
        code = f.code;
        break;
      }
    }
    sessions.delete(id);
    ws.close();
    emit({ id, ev: "closed", code });
  };
  const stream = async (id: string, url: URL, plan: StreamPlan) => {
    const ws = await connect(id, url);
    if (!ws) return;
    // What goes up comes back (an echo target): both sides of the check use one seed.
    const seed = [...id].reduce((a, c) => (a * 31 + c.charCodeAt(0)) | 0, 7919);
    const up = new ByteGen(seed);
    const check = new ByteGen(seed);
    let sent = 0;
    let verified = 0;
    let ended = false;
    const sender = (async () => {
      while (sent < plan.bytes && !ended) {
        const n = Math.min(plan.chunk, plan.bytes - sent);
        try {
          await ws.sendBinary(up.fill(new Uint8Array(n)));
        } catch {
          return;
        }
        sent += n;
        await new Promise((r) => setTimeout(r, plan.intervalMs));
      }
    })();
    let code = 0;
    for (let f = await ws.next(); f !== null; f = await ws.next()) {
      if (f.kind === "close") {
        code = f.code;
        break;
      }
      if (f.kind !== "data") continue;
      const at = check.check(f.bytes);
      if (at >= 0) emit({ id, ev: "corrupt", at });
      verified += f.bytes.length;
      if (verified === plan.bytes) {
        emit({ id, ev: "done", sent, verified });
        await ws.sendClose(1000).catch(() => {});
      }
    }
    ended = true;
    await sender;
    sessions.delete(id);
    ws.close();
    emit({ id, ev: "closed", code, sent, verified });
  };
  console.log("fleet client ready");
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let buf = "";
  for await (const chunk of lines) {
    buf += chunk;
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      const cmd = JSON.parse(buf.slice(0, i));
      buf = buf.slice(i + 1);
      if (cmd.op === "open") open(cmd.id, new URL(cmd.url), cmd.headers);
      else if (cmd.op === "stream") stream(cmd.id, new URL(cmd.url), cmd);
      else if (cmd.op === "close") {
        sessions.get(cmd.id)?.sendClose(1000).catch(() => {});
      }
    }
  }
  for (const ws of sessions.values()) ws.close();
}

if (import.meta.main) await serve();
