/**
 * Linux /proc reads for supervising processes that are not our children
 * (a server forked by a daemonizing wrapper): liveness with PID-reuse
 * protection, process groups, and which sockets listen on a port.
 * @module
 */

function readStat(pid: number): string[] | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and ")": fields 3.. follow the last ")".
  const end = text.lastIndexOf(")");
  if (end < 0) return undefined;
  return text.slice(end + 2).trim().split(" ");
}

/** Identity of a running process: its PID and start time (clock ticks after boot). */
export interface ProcessId {
  pid: number;
  start: number;
}

/** The process's start time, or undefined when it is gone or a zombie. */
export function processStart(pid: number): number | undefined {
  const f = readStat(pid);
  if (!f || f[0] === "Z" || f[0] === "X") return undefined;
  return Number(f[19]); // field 22
}

/** True while the process that had this identity is alive (not reused, not a zombie). */
export function isAlive(id: ProcessId): boolean {
  return processStart(id.pid) === id.start;
}

/** The process group of a live process, or undefined. */
export function processGroup(pid: number): number | undefined {
  const f = readStat(pid);
  if (!f || f[0] === "Z") return undefined;
  return Number(f[2]); // field 5
}

/** Live (non-zombie) members of a process group, found by scanning /proc. */
export function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const f = readStat(Number(entry.name));
    if (f && f[0] !== "Z" && Number(f[2]) === pgid) out.push(Number(entry.name));
  }
  return out;
}

/** A listening TCP socket found in /proc/net/tcp{,6}. */
export interface Listener {
  family: 4 | 6;
  /** Local address as printed by the kernel (hex). */
  address: string;
  inode: number;
}

/** TCP sockets in LISTEN state on `port` (any local address), from /proc/net/tcp and tcp6. */
export function listenersOn(port: number): Listener[] {
  const out: Listener[] = [];
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  for (const [family, file] of [[4, "/proc/net/tcp"], [6, "/proc/net/tcp6"]] as const) {
    let text: string;
    try {
      text = Deno.readTextFileSync(file);
    } catch {
      continue; // no IPv6 in this kernel
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const [address, p] = f[1].split(":");
      if (p === hexPort && f[3] === "0A") out.push({ family, address, inode: Number(f[9]) });
    }
  }
  return out;
}

/**
 * PIDs that hold one of the socket inodes open (scans /proc/PID/fd; finds only
 * processes this user may inspect, which includes everything we started).
 */
export function socketOwners(inodes: number[]): number[] {
  const wanted = new Set(inodes.map((i) => `socket:[${i}]`));
  const out: number[] = [];
  if (wanted.size === 0) return out;
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let fds: Iterable<Deno.DirEntry>;
    try {
      fds = Deno.readDirSync(`/proc/${entry.name}/fd`);
    } catch {
      continue;
    }
    try {
      for (const fd of fds) {
        let link: string;
        try {
          link = Deno.readLinkSync(`/proc/${entry.name}/fd/${fd.name}`);
        } catch {
          continue;
        }
        if (wanted.has(link)) {
          out.push(Number(entry.name));
          break;
        }
      }
    } catch { /* process ended while we looked */ }
  }
  return out;
}
