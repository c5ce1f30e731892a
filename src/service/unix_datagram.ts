/**
 * Sending datagrams to a unix datagram socket (`/dev/log`, systemd's
 * `NOTIFY_SOCKET`). Deno 2.9 has no stable API for this: `Deno.listenDatagram`
 * exists only with `--unstable-net`, and `node:dgram` knows UDP only. So:
 *
 * 1. `Deno.listenDatagram` when present (run with `--unstable-net`), bound to
 *    an abstract address (no file to clean up);
 * 2. otherwise libc's `socket`/`sendto` through FFI (needs `--allow-ffi`;
 *    glibc, as the compiled binary needs anyway).
 *
 * Sends never block: the FFI socket is non-blocking, and a datagram the
 * receiver has no room for is dropped (as syslog(3) does).
 * Names starting with `@` are abstract socket names (Linux).
 * @module
 */

/** A socket that sends datagrams to one unix socket path. */
export interface UnixDatagramSender {
  /** Which implementation is in use. */
  readonly backend: "deno" | "ffi";
  /** Sends one datagram; rejects with the reason when the kernel refused it. */
  send(data: Uint8Array): Promise<void>;
  /** Closes the socket. */
  close(): void;
}

/** A send refused by the kernel, with its errno. */
export class DatagramError extends Error {
  /** The errno the kernel returned. */
  readonly errno: number;
  /** `message` for people, `errno` for code. */
  constructor(message: string, errno: number) {
    super(message);
    this.errno = errno;
  }
}

/** Sends waiting in the `--unstable-net` backend beyond which new ones are dropped. */
const MAX_PENDING = 1000;

/** errno values we explain. */
const ERRNO_TEXT: Record<number, string> = {
  2: "ENOENT: no such socket",
  11: "EAGAIN: the receiver's queue is full (message dropped)",
  13: "EACCES: permission denied",
  91: "EPROTOTYPE: the socket is not a datagram socket",
  111: "ECONNREFUSED: nobody listens on this socket",
};

/** The kernel's name for a path: `@x` → abstract `\0x`. */
export function socketName(path: string): string {
  return path.startsWith("@") ? "\0" + path.slice(1) : path;
}

interface DenoDatagramConn {
  send(data: Uint8Array, addr: { transport: "unixpacket"; path: string }): Promise<number>;
  close(): void;
}

function denoErrorText(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return ERRNO_TEXT[2];
  if (e instanceof Deno.errors.ConnectionRefused) return ERRNO_TEXT[111];
  if (e instanceof Deno.errors.PermissionDenied) return ERRNO_TEXT[13];
  return e instanceof Error ? e.message : String(e);
}

type ListenDatagram = (o: { transport: "unixpacket"; path: string }) => DenoDatagramConn;

function denoSender(path: string, listen: ListenDatagram): UnixDatagramSender {
  const local = `\0vncws-${Deno.pid}-${crypto.randomUUID()}`;
  const conn = listen({ transport: "unixpacket", path: local });
  const to = { transport: "unixpacket" as const, path: socketName(path) };
  // Deno refuses a send while another is under way on the same socket, so
  // sends are chained; each one gets a copy of the data it was given.
  let tail: Promise<unknown> = Promise.resolve();
  let pending = 0;
  return {
    backend: "deno",
    send(data) {
      // A receiver that stopped reading must not make the chain grow forever.
      if (pending >= MAX_PENDING) {
        return Promise.reject(
          new DatagramError(`sending to ${path} failed: ${ERRNO_TEXT[11]}`, 11),
        );
      }
      pending++;
      const copy = data.slice();
      const p = tail.then(() => conn.send(copy, to)).finally(() => pending--).then(
        () => {},
        (e) => {
          throw new DatagramError(`sending to ${path} failed: ${denoErrorText(e)}`, 0);
        },
      );
      tail = p.catch(() => {});
      return p;
    },
    close() {
      try {
        conn.close();
      } catch { /* closed */ }
    },
  };
}

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const SUN_PATH_MAX = 108;

const LIBC_SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  sendto: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
    result: "isize",
  },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

let libc: Deno.DynamicLibrary<typeof LIBC_SYMBOLS> | undefined;

function errno(): number {
  const p = libc!.symbols.__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

function ffiSender(path: string): UnixDatagramSender {
  libc ??= Deno.dlopen("libc.so.6", LIBC_SYMBOLS);
  const name = new TextEncoder().encode(socketName(path));
  if (name.length >= SUN_PATH_MAX) {
    throw new Error(`unix socket path too long (${name.length} bytes, at most 107): ${path}`);
  }
  // struct sockaddr_un: sa_family_t (u16, host order) + sun_path.
  const addr = new Uint8Array(2 + SUN_PATH_MAX);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(name, 2);
  // Abstract names are exactly their bytes; paths are NUL-terminated.
  const addrLen = 2 + name.length + (path.startsWith("@") ? 0 : 1);
  const fd = libc.symbols.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw new DatagramError(`socket(AF_UNIX, SOCK_DGRAM) failed: errno ${errno()}`, errno());
  }
  let closed = false;
  return {
    backend: "ffi",
    send(data) {
      if (closed) return Promise.reject(new Error("datagram socket is closed"));
      const r = libc!.symbols.sendto(
        fd,
        data,
        BigInt(data.length),
        MSG_DONTWAIT | MSG_NOSIGNAL,
        addr,
        addrLen,
      );
      if (Number(r) < 0) {
        const e = errno();
        return Promise.reject(
          new DatagramError(`sending to ${path} failed: ${ERRNO_TEXT[e] ?? `errno ${e}`}`, e),
        );
      }
      return Promise.resolve();
    },
    close() {
      if (closed) return;
      closed = true;
      libc!.symbols.close(fd);
    },
  };
}

/**
 * Opens a sender to the unix datagram socket at `path` (`@name` = abstract).
 * Throws with what to do when neither `--unstable-net` nor FFI is available.
 */
export function openUnixDatagram(
  path: string,
  options: { backend?: "deno" | "ffi" } = {},
): UnixDatagramSender {
  const listen = (Deno as unknown as { listenDatagram?: ListenDatagram }).listenDatagram;
  const want = options.backend ?? (listen ? "deno" : "ffi");
  if (want === "deno") {
    if (!listen) throw new Error("Deno.listenDatagram needs --unstable-net");
    return denoSender(path, listen);
  }
  try {
    return ffiSender(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      throw new Error(
        `cannot send to the unix datagram socket ${path}: run with --unstable-net, ` +
          "or allow FFI (--allow-ffi) for libc's sendto",
      );
    }
    throw e;
  }
}
