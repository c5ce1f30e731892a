/**
 * Service-manager integration: systemd socket activation (`LISTEN_FDS`),
 * `--inetd` (a listening socket on fd 0, websockify's meaning) and
 * `sd_notify` (`READY=1` when `NOTIFY_SOCKET` is set).
 *
 * Deno 2.9 has no API to turn an inherited file descriptor into a
 * `Deno.Listener`, but `node:net` can listen on one:
 * `net.createServer().listen({ fd })` works for TCP and unix stream sockets
 * (measured). {@linkcode inheritedListener} wraps that server in the
 * `Deno.Listener` shape the accept loop uses, and each accepted `net.Socket`
 * in the `Deno.Conn` shape (`read`, `write`, `closeWrite`, `close`,
 * addresses, `setNoDelay`). One catch, also measured: a `net.Server` on an
 * inherited fd keeps the process alive after `close()` unless unref'd, so
 * `close()` here unrefs it.
 * @module
 */
import net from "node:net";
import { NodeSocketStream } from "../net/node_stream.ts";
import { logWarn } from "./log.ts";
import { openUnixDatagram } from "./unix_datagram.ts";

/** The first fd systemd passes (SD_LISTEN_FDS_START). */
export const SD_LISTEN_FDS_START = 3;

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
class NodeConn {
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

/** A `Deno.Listener`-shaped listener over a node server on an inherited fd. */
class InheritedListener {
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
 * A listener on an inherited, already listening socket (TCP or unix stream)
 * at file descriptor `fd`: 0 for `--inetd`, 3 for systemd.
 */
export function inheritedListener(fd: number): Promise<Deno.Listener> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ allowHalfOpen: true });
    const onError = (e: Error) => {
      server.unref();
      reject(
        new Error(
          `fd ${fd} is not a listening socket vncws can use (${e.message}); ` +
            (fd === 0
              ? "--inetd needs a listening TCP socket on stdin (inetd 'wait' / systemd Accept=no)"
              : "the socket unit needs ListenStream= and Accept=no"),
        ),
      );
    };
    server.once("error", onError);
    try {
      server.listen({ fd }, () => {
        server.off("error", onError);
        resolve(new InheritedListener(server) as unknown as Deno.Listener);
      });
    } catch (e) {
      onError(e instanceof Error ? e : new Error(String(e)));
    }
  });
}

/** What systemd passed, from `LISTEN_PID`/`LISTEN_FDS`/`LISTEN_FDNAMES`. */
export interface ListenFds {
  /** The inherited fds: 3, 4, ... */
  fds: number[];
  /** Their names (`FileDescriptorName=`), when given. */
  names: string[];
}

/**
 * Reads systemd's socket-activation variables. Returns undefined when they
 * are absent or meant for another process (`LISTEN_PID` ≠ our pid). Unsets
 * them (as `sd_listen_fds(1)` does) so a wrapped server does not see them.
 */
export function listenFds(
  env: Pick<typeof Deno.env, "get" | "delete"> = Deno.env,
): ListenFds | undefined {
  const pid = env.get("LISTEN_PID");
  const count = env.get("LISTEN_FDS");
  const names = env.get("LISTEN_FDNAMES");
  for (const k of ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]) env.delete(k);
  if (pid === undefined || count === undefined) return undefined;
  if (Number(pid) !== Deno.pid) return undefined;
  const n = Number(count);
  if (!Number.isInteger(n) || n < 1) return undefined;
  return {
    fds: Array.from({ length: n }, (_, i) => SD_LISTEN_FDS_START + i),
    names: names ? names.split(":") : [],
  };
}

/**
 * Systemd socket activation: a listener on the first inherited socket
 * (fd 3), or undefined when vncws was not socket-activated. More than one
 * socket is an error (vncws serves one listener).
 */
export async function listenFdsListener(
  env: Pick<typeof Deno.env, "get" | "delete"> = Deno.env,
): Promise<Deno.Listener | undefined> {
  const fds = listenFds(env);
  if (!fds) return undefined;
  if (fds.fds.length > 1) {
    throw new Error(
      `systemd passed ${fds.fds.length} sockets (LISTEN_FDS); vncws serves one: ` +
        "give the socket unit a single ListenStream=",
    );
  }
  return await inheritedListener(fds.fds[0]);
}

/**
 * Sends `state` (e.g. `READY=1`, `STOPPING=1`, `STATUS=...`) to the service
 * manager when `NOTIFY_SOCKET` is set. Resolves false when it is not set;
 * rejects when sending failed.
 */
export async function sdNotify(
  state: string,
  env: Pick<typeof Deno.env, "get"> = Deno.env,
): Promise<boolean> {
  const path = env.get("NOTIFY_SOCKET");
  if (!path) return false;
  const sender = openUnixDatagram(path);
  try {
    await sender.send(new TextEncoder().encode(state));
  } finally {
    sender.close();
  }
  return true;
}

/** sdNotify that logs a failure instead of rejecting (the service goes on). */
async function tryNotify(state: string): Promise<boolean> {
  try {
    return await sdNotify(state);
  } catch (e) {
    logWarn("cannot notify the service manager", {
      socket: Deno.env.get("NOTIFY_SOCKET"),
      error: e instanceof Error ? e.message : String(e),
    });
    return false;
  }
}

/**
 * `READY=1` (plus `STATUS=`), for `Type=notify` units. Call once listening.
 * Never rejects: a failure is logged and resolves false.
 */
export function notifyReady(status?: string): Promise<boolean> {
  return tryNotify(`READY=1\nMAINPID=${Deno.pid}${status ? `\nSTATUS=${status}` : ""}`);
}

/** `STOPPING=1`: shutdown has begun (sessions draining). Never rejects. */
export function notifyStopping(): Promise<boolean> {
  return tryNotify("STOPPING=1");
}
