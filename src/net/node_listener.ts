/**
 * `Deno.Listener` and `Deno.Conn` shapes over `node:net`, for the two cases
 * Deno's own listener cannot serve: a socket inherited as a file descriptor
 * (systemd, `--inetd`), and `--ssl-only`, where TLS runs on the native
 * socket (node:tls attached to it in Rust) instead of over a JavaScript
 * stream — about 40% less CPU per GiB downstream (docs/bench.md).
 *
 * One catch, measured: a `net.Server` on an inherited fd keeps the process
 * alive after `close()` unless unref'd, so `close()` unrefs it.
 * @module
 */
import net from "node:net";
import type { HostPort } from "./address.ts";
import { logError, logInfo, logWarn } from "../base/log.ts";
import { NodeSocketStream } from "./node_stream.ts";
import type { TakenSocket } from "./stream.ts";
import { listenQueue, socketInodes, tcpListeners } from "../base/procfs.ts";
import { sleep } from "../base/time.ts";

function addrOf(
  address: string | undefined,
  port: number | undefined,
  unix: boolean,
): Deno.NetAddr | Deno.UnixAddr {
  if (unix) return { transport: "unix", path: "" };
  return { transport: "tcp", hostname: address ?? "", port: port ?? 0 };
}

/**
 * A `Deno.Conn`-shaped connection over a node socket: the shared
 * {@linkcode NodeSocketStream} (queueing, backpressure, writes that resolve
 * once node has taken the bytes) with Deno.Conn's errors after close().
 */
export class NodeConn {
  readonly #socket: net.Socket;
  readonly #stream: NodeSocketStream;
  /** Our address (path "" for unix sockets). */
  readonly localAddr: Deno.NetAddr | Deno.UnixAddr;
  /** The peer's address (path "" for unix sockets). */
  readonly remoteAddr: Deno.NetAddr | Deno.UnixAddr;
  #closed = false;

  /** Wraps `socket`; `unix` for a unix-domain socket. */
  constructor(socket: net.Socket, unix: boolean) {
    this.#socket = socket;
    this.#stream = new NodeSocketStream(socket);
    this.localAddr = addrOf(socket.localAddress, socket.localPort, unix);
    this.remoteAddr = addrOf(socket.remoteAddress, socket.remotePort, unix);
  }

  /** Reads into `buf`; null at end of stream; rejects after close(). */
  async read(buf: Uint8Array): Promise<number | null> {
    if (this.#closed) throw new Deno.errors.BadResource("connection closed");
    const n = await this.#stream.read(buf);
    // The stream ends reads on close(); a Deno.Conn rejects them.
    if (n === null && this.#closed) throw new Deno.errors.BadResource("connection closed");
    return n;
  }

  /** Writes all of `data`; resolves its length once node has taken it. */
  async write(data: Uint8Array): Promise<number> {
    if (this.#closed || this.#socket.destroyed) {
      throw new Deno.errors.BadResource("write on a closed connection");
    }
    await this.#stream.writeAll(data);
    return data.length;
  }

  /** Half-close: ends our write side. */
  closeWrite(): Promise<void> {
    return this.#stream.closeWrite();
  }

  /** Closes the connection. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stream.close();
  }

  /**
   * Hands the socket itself over (for TLS on the native socket): this conn
   * lets go of it without closing it and returns the bytes it had read but
   * not yet delivered. Undefined once closed.
   */
  takeSocket(): TakenSocket | undefined {
    if (this.#closed || this.#socket.destroyed) return undefined;
    this.#closed = true;
    return { socket: this.#socket, buffered: this.#stream.detach() };
  }

  /** TCP_NODELAY on or off. */
  setNoDelay(noDelay = true): void {
    this.#socket.setNoDelay(noDelay);
  }

  /** TCP keep-alive on or off. */
  setKeepAlive(keepAlive = true): void {
    this.#socket.setKeepAlive(keepAlive);
  }

  /** The socket keeps the process alive again. */
  ref(): void {
    this.#socket.ref();
  }

  /** The socket no longer keeps the process alive. */
  unref(): void {
    this.#socket.unref();
  }

  /** Closes the connection (`using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Pause between attempts to listen again after a stalled accept. */
const RELISTEN_RETRY_MS = 500;
/** Failed attempts between two log lines about them (10 s). */
const RELISTEN_REPORT_EVERY = 20;

/** Options for {@linkcode NodeListener}. */
export interface NodeListenerOptions {
  /**
   * Opens a new server on the same address. With it, a stalled accept loop
   * is recovered by listening again; without it (an inherited fd), it is
   * only reported.
   */
  relisten?: () => Promise<net.Server>;
  /** How often the accept queue is checked, in ms (default 1000). */
  watchIntervalMs?: number;
}

/**
 * A `Deno.Listener`-shaped listener over a node `net.Server`.
 *
 * Watchdog: under Deno 2.9, a node:net server whose accept fails (EMFILE)
 * never accepts again and reports nothing (measured). So a TCP listener
 * checks its accept queue in /proc/net/tcp*: connections waiting there for
 * two checks in a row while none was accepted mean the loop is dead, and the
 * listener listens again (the waiting connections are reset: their clients
 * see a refused connection and retry).
 */
export class NodeListener {
  #server: net.Server;
  readonly #unix: boolean;
  /** The address listened on. */
  readonly addr: Deno.NetAddr | Deno.UnixAddr;
  readonly #relisten?: () => Promise<net.Server>;
  #pending: net.Socket[] = [];
  #waiters: Array<{ resolve: (c: Deno.Conn) => void; reject: (e: Error) => void }> = [];
  #closed = false;
  #accepted = 0;
  #restarting = false;
  /** Inode of our listening socket, to find it in /proc/net/tcp*. */
  #inode?: number;
  #watch?: ReturnType<typeof setInterval>;

  /** Takes over a listening `server`; TCP listeners get the accept watchdog. */
  constructor(server: net.Server, options: NodeListenerOptions = {}) {
    this.#server = server;
    this.#relisten = options.relisten;
    const a = server.address();
    this.#unix = typeof a === "string" || a === null;
    this.addr = typeof a === "string" || a === null
      ? { transport: "unix", path: a ?? "" }
      : { transport: "tcp", hostname: a.address, port: a.port };
    this.#attach(server);
    if (!this.#unix) this.#startWatch(options.watchIntervalMs ?? 1000);
  }

  #attach(server: net.Server): void {
    server.on("connection", (socket: net.Socket) => {
      this.#accepted++;
      const w = this.#waiters.shift();
      if (w) return w.resolve(this.#wrap(socket));
      // Waiting for accept(): a reset now must not be an unhandled 'error'.
      socket.once("error", () => {
        socket.destroy();
        this.#pending = this.#pending.filter((s) => s !== socket);
      });
      this.#pending.push(socket);
    });
    // An 'error' on the server must not end the process (node reports failed accepts so).
    server.on("error", (e: Error) => {
      logWarn("accept failed", { error: e.message });
    });
  }

  #startWatch(intervalMs: number): void {
    const port = (this.addr as Deno.NetAddr).port;
    // Found now, while descriptors are surely available (a stall usually comes with none).
    this.#inode = ownListenInode(port);
    let seen = this.#accepted;
    let stalled = 0;
    let reported = false;
    const timer = setInterval(() => {
      if (this.#accepted !== seen || this.#restarting) {
        // Accepting works (or is being fixed): nothing to read.
        seen = this.#accepted;
        stalled = 0;
        return;
      }
      // Only our own listening socket counts: another one may share the port on
      // another address, or in another process with SO_REUSEPORT.
      this.#inode ??= ownListenInode(port);
      const queued = this.#inode ? acceptQueue(port, this.#inode) : 0;
      stalled = queued > 0 ? stalled + 1 : 0;
      if (stalled < 2) return;
      stalled = 0;
      if (this.#relisten) {
        this.#restarting = true;
        void this.#restart(queued).finally(() => this.#restarting = false);
      } else if (!reported) {
        reported = true;
        logError("accept stalled", {
          port,
          queued,
          why: "node:net stopped accepting (after running out of file descriptors?); " +
            "restart vncws, and raise LimitNOFILE or lower --max-connections",
        });
      }
    }, intervalMs);
    Deno.unrefTimer(timer);
    this.#watch = timer;
  }

  async #restart(queued: number): Promise<void> {
    const old = this.#server;
    const port = (this.addr as Deno.NetAddr).port;
    logWarn("accept stalled: listening again", {
      port,
      reset: queued,
      why: "node:net stopped accepting (after running out of file descriptors?)",
    });
    // A connection the old server still hands over is closed, never left unowned.
    old.removeAllListeners("connection");
    old.on("connection", (socket: net.Socket) => {
      socket.on("error", () => {});
      socket.destroy();
    });
    old.close();
    this.#inode = undefined;
    // Until the new listener is up the port refuses connections: retry until it is
    // (out of descriptors, listen() fails too), and say so every 10 s.
    for (let attempt = 0; !this.#closed; attempt++) {
      try {
        const server = await this.#relisten!();
        if (this.#closed) {
          server.close();
          return;
        }
        this.#server = server;
        this.#attach(server);
        this.#inode = ownListenInode(port);
        if (attempt > 0) logInfo("listening again", { port });
        return;
      } catch (e) {
        if (attempt % RELISTEN_REPORT_EVERY === 0) {
          logError("not listening: listening again failed, retrying", {
            port,
            seconds: (attempt * RELISTEN_RETRY_MS) / 1000,
            error: e instanceof Error ? e.message : String(e),
          });
        }
        await sleep(RELISTEN_RETRY_MS);
      }
    }
  }

  #wrap(socket: net.Socket): Deno.Conn {
    return new NodeConn(socket, this.#unix) as unknown as Deno.Conn;
  }

  /** The next connection; rejects with BadResource once closed. */
  accept(): Promise<Deno.Conn> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("listener closed"));
    const s = this.#pending.shift();
    if (s) return Promise.resolve(this.#wrap(s));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Stops listening; pending accepts reject, waiting connections are dropped. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#watch !== undefined) clearInterval(this.#watch);
    this.#server.close();
    // A server on an inherited fd keeps the process alive after close() (measured).
    this.#server.unref();
    for (const w of this.#waiters.splice(0)) {
      w.reject(new Deno.errors.BadResource("listener closed"));
    }
    for (const s of this.#pending.splice(0)) s.destroy();
  }

  /** The server keeps the process alive again. */
  ref(): void {
    this.#server.ref();
  }

  /** The server no longer keeps the process alive. */
  unref(): void {
    this.#server.unref();
  }

  /** Connections until the listener is closed. */
  async *[Symbol.asyncIterator](): AsyncIterableIterator<Deno.Conn> {
    for (;;) {
      try {
        yield await this.accept();
      } catch (e) {
        if (e instanceof Deno.errors.BadResource) return;
        throw e;
      }
    }
  }

  /** Stops listening (`using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Options for {@linkcode openNodeListener}. */
export interface NodeListenOptions {
  /**
   * SO_REUSEPORT: several processes listen on the same port and Linux
   * spreads new connections among them by a hash of the addresses
   * (`--workers`). Deno 2.9's own `Deno.listen` takes `reusePort` only
   * with `--unstable-net`; node:net's takes it as it is (measured).
   */
  reusePort?: boolean;
}

/**
 * Listens on TCP `addr` with `node:net`. A bare port (hostname "") listens
 * dual-stack on `[::]`, or on 0.0.0.0 where IPv6 is missing, as Deno's
 * listener does in src/proxy/server.ts.
 */
export async function openNodeListener(
  addr: HostPort,
  options: NodeListenOptions = {},
): Promise<Deno.Listener> {
  let host = addr.hostname;
  const reusePort = options.reusePort ?? false;
  if (host === "") {
    try {
      const server = await listenOn("::", addr.port, reusePort);
      host = "::";
      return listener(server, host, addr.port, reusePort);
    } catch (e) {
      if (e instanceof Deno.errors.AddrInUse || e instanceof Deno.errors.PermissionDenied) throw e;
      host = "0.0.0.0";
    }
  }
  return listener(await listenOn(host, addr.port, reusePort), host, addr.port, reusePort);
}

function listener(
  server: net.Server,
  host: string,
  port: number,
  reusePort: boolean,
): Deno.Listener {
  const port0 = (server.address() as net.AddressInfo).port; // the chosen one when port was 0
  return new NodeListener(server, {
    relisten: () => listenOn(host, port || port0, reusePort),
  }) as unknown as Deno.Listener;
}

function listenOn(host: string, port: number, reusePort: boolean): Promise<net.Server> {
  return new Promise<net.Server>((resolve, reject) => {
    const server = net.createServer({ allowHalfOpen: true });
    const onError = (e: Error) => reject(toDenoError(e, host));
    server.once("error", onError);
    server.listen({ host, port, backlog: 4096, reusePort }, () => {
      server.off("error", onError);
      resolve(server);
    });
  });
}

/**
 * Connections waiting in the accept queue of the TCP listener on `port`
 * (IPv4 and IPv6), only the socket with `inode` when given; 0 when unknown.
 */
export function acceptQueue(port: number, inode?: number): number {
  return listenQueue(tcpListeners(port), port, inode);
}

/**
 * The inode of this process's listening socket on `port`: a listener on the
 * port whose `socket:[inode]` is among our open fds. Undefined when none is
 * found (or /proc cannot be read now).
 */
export function ownListenInode(port: number): number | undefined {
  const listeners = tcpListeners(port);
  if (listeners.length === 0) return undefined;
  const ours = socketInodes("self");
  return listeners.find((l) => ours.has(l.inode))?.inode;
}

/** node's listen errors as the Deno errors main.ts explains to the user. */
function toDenoError(e: unknown, host: string): Error {
  const msg = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: string }).code;
  if (code === "EADDRINUSE") return new Deno.errors.AddrInUse(`${msg} (${host})`);
  if (code === "EACCES") return new Deno.errors.PermissionDenied(`${msg} (${host})`);
  return e instanceof Error ? e : new Error(msg);
}
