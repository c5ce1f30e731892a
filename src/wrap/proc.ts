/**
 * Linux /proc reads for supervising processes that are not our children
 * (a server forked by a daemonizing wrapper): liveness with PID-reuse
 * protection, process groups, and which processes hold a socket.
 * @module
 */
import { socketInodes } from "../base/procfs.ts";

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
  /** The process ID. */
  pid: number;
  /** Its start time, telling it from a later process with the same PID. */
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

/**
 * PIDs that hold one of the socket inodes open (scans /proc/PID/fd; finds only
 * processes this user may inspect, which includes everything we started).
 */
export function socketOwners(inodes: number[]): number[] {
  const out: number[] = [];
  if (inodes.length === 0) return out;
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const held = socketInodes(Number(entry.name));
    if (inodes.some((i) => held.has(i))) out.push(Number(entry.name));
  }
  return out;
}
