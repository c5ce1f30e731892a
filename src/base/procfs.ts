/**
 * Linux /proc readers for sockets: the TCP sockets in LISTEN state from
 * /proc/net/tcp and tcp6 (with their accept queues), and the socket inodes a
 * process holds open from /proc/PID/fd. Used to find a wrapped server by its
 * listening socket and to watch our own listener's accept queue.
 * @module
 */

/** A TCP socket in LISTEN state, from /proc/net/tcp or tcp6. */
export interface TcpListener {
  /** 4 from /proc/net/tcp, 6 from /proc/net/tcp6. */
  family: 4 | 6;
  /** Local address as the kernel prints it (hex). */
  address: string;
  /** Local port. */
  port: number;
  /** Socket inode: the N of a `socket:[N]` link in /proc/PID/fd. */
  inode: number;
  /** Connections waiting to be accepted (a listener's rx_queue). */
  queued: number;
}

/** The listening sockets (state 0A) in the text of /proc/net/tcp or tcp6. */
export function parseTcpListeners(text: string, family: 4 | 6 = 4): TcpListener[] {
  const out: TcpListener[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== "0A") continue;
    const [address, port] = f[1].split(":");
    out.push({
      family,
      address,
      port: parseInt(port, 16),
      inode: Number(f[9]),
      queued: parseInt(f[4].split(":")[1], 16) || 0,
    });
  }
  return out;
}

/**
 * The listening TCP sockets of this network namespace, IPv4 and IPv6, only
 * those on `port` when given. A file that cannot be read (no IPv6, or no
 * descriptor left to read it with) is skipped.
 */
export function tcpListeners(port?: number): TcpListener[] {
  const out: TcpListener[] = [];
  for (const [family, file] of [[4, "/proc/net/tcp"], [6, "/proc/net/tcp6"]] as const) {
    let text: string;
    try {
      text = Deno.readTextFileSync(file);
    } catch {
      continue;
    }
    for (const l of parseTcpListeners(text, family)) {
      if (port === undefined || l.port === port) out.push(l);
    }
  }
  return out;
}

/** Connections waiting in the accept queues of `listeners` on `port`, or of the one with `inode`. */
export function listenQueue(listeners: TcpListener[], port: number, inode?: number): number {
  let total = 0;
  for (const l of listeners) {
    if (l.port === port && (inode === undefined || l.inode === inode)) total += l.queued;
  }
  return total;
}

/**
 * The socket inodes process `pid` (or this process, `"self"`) holds open,
 * from its /proc/PID/fd links. Empty when they cannot be read (another
 * user's process, a process that ended, no descriptor left).
 */
export function socketInodes(pid: number | "self"): Set<number> {
  const out = new Set<number>();
  const dir = `/proc/${pid}/fd`;
  try {
    for (const e of Deno.readDirSync(dir)) {
      let link: string;
      try {
        link = Deno.readLinkSync(`${dir}/${e.name}`);
      } catch {
        continue; // closed meanwhile
      }
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m) out.add(Number(m[1]));
    }
  } catch { /* not ours to read, gone, or out of descriptors */ }
  return out;
}
