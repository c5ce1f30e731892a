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
import { NodeSocketStream } from "./node_stream.ts";
import type { TakenSocket } from "./stream.ts";

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
  readonly localAddr: Deno.NetAddr | Deno.UnixAddr;
  readonly remoteAddr: Deno.NetAddr | Deno.UnixAddr;
  #closed = false;

  constructor(socket: net.Socket, unix: boolean) {
    this.#socket = socket;
    this.#stream = new NodeSocketStream(socket);
    this.localAddr = addrOf(socket.localAddress, socket.localPort, unix);
    this.remoteAddr = addrOf(socket.remoteAddress, socket.remotePort, unix);
  }

  async read(buf: Uint8Array): Promise<number | null> {
    if (this.#closed) throw new Deno.errors.BadResource("connection closed");
    const n = await this.#stream.read(buf);
    // The stream ends reads on close(); a Deno.Conn rejects them.
    if (n === null && this.#closed) throw new Deno.errors.BadResource("connection closed");
    return n;
  }

  async write(data: Uint8Array): Promise<number> {
    if (this.#closed || this.#socket.destroyed) {
      throw new Deno.errors.BadResource("write on a closed connection");
    }
    await this.#stream.writeAll(data);
    return data.length;
  }

  closeWrite(): Promise<void> {
    return this.#stream.closeWrite();
  }

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

  setNoDelay(noDelay = true): void {
    this.#socket.setNoDelay(noDelay);
  }

  setKeepAlive(keepAlive = true): void {
    this.#socket.setKeepAlive(keepAlive);
  }

  ref(): void {
    this.#socket.ref();
  }

  unref(): void {
    this.#socket.unref();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** A `Deno.Listener`-shaped listener over a node `net.Server`. */
export class NodeListener {
  readonly #server: net.Server;
  readonly #unix: boolean;
  readonly addr: Deno.NetAddr | Deno.UnixAddr;
  #pending: net.Socket[] = [];
  #waiters: Array<{ resolve: (c: Deno.Conn) => void; reject: (e: Error) => void }> = [];
  #closed = false;

  constructor(server: net.Server) {
    this.#server = server;
    const a = server.address();
    this.#unix = typeof a === "string" || a === null;
    this.addr = typeof a === "string" || a === null
      ? { transport: "unix", path: a ?? "" }
      : { transport: "tcp", hostname: a.address, port: a.port };
    server.on("connection", (socket: net.Socket) => {
      const w = this.#waiters.shift();
      if (w) w.resolve(this.#wrap(socket));
      else this.#pending.push(socket);
    });
  }

  #wrap(socket: net.Socket): Deno.Conn {
    return new NodeConn(socket, this.#unix) as unknown as Deno.Conn;
  }

  accept(): Promise<Deno.Conn> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("listener closed"));
    const s = this.#pending.shift();
    if (s) return Promise.resolve(this.#wrap(s));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    // A server on an inherited fd keeps the process alive after close() (measured).
    this.#server.unref();
    for (const w of this.#waiters.splice(0)) {
      w.reject(new Deno.errors.BadResource("listener closed"));
    }
    for (const s of this.#pending.splice(0)) s.destroy();
  }

  ref(): void {
    this.#server.ref();
  }

  unref(): void {
    this.#server.unref();
  }

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

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Listens on TCP `addr` with `node:net`. A bare port (hostname "") listens
 * dual-stack on `[::]`, or on 0.0.0.0 where IPv6 is missing, as Deno's
 * listener does in src/proxy/server.ts.
 */
export async function openNodeListener(addr: HostPort): Promise<Deno.Listener> {
  const listen = (host: string) =>
    new Promise<net.Server>((resolve, reject) => {
      const server = net.createServer({ allowHalfOpen: true });
      server.once("error", (e) => reject(toDenoError(e, host)));
      server.listen({ host, port: addr.port, backlog: 4096 }, () => {
        server.off("error", reject);
        resolve(server);
      });
    });
  let server: net.Server;
  if (addr.hostname !== "") server = await listen(addr.hostname);
  else {
    try {
      server = await listen("::");
    } catch (e) {
      if (e instanceof Deno.errors.AddrInUse || e instanceof Deno.errors.PermissionDenied) throw e;
      server = await listen("0.0.0.0");
    }
  }
  return new NodeListener(server) as unknown as Deno.Listener;
}

/** node's listen errors as the Deno errors main.ts explains to the user. */
function toDenoError(e: unknown, host: string): Error {
  const msg = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: string }).code;
  if (code === "EADDRINUSE") return new Deno.errors.AddrInUse(`${msg} (${host})`);
  if (code === "EACCES") return new Deno.errors.PermissionDenied(`${msg} (${host})`);
  return e instanceof Error ? e : new Error(msg);
}
