/**
 * Watching a process from outside: resident memory and open file
 * descriptors from /proc, and polling until a count settles.
 * @module
 */
import { sleep } from "../../src/base/time.ts";

/** Resident set size of `pid` in bytes (VmRSS), or 0 when it is gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Open file descriptors of `pid` (entries in /proc/<pid>/fd). */
export function fdCount(pid: number): number {
  let n = 0;
  for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) n++;
  return n;
}

/**
 * Polls `read` until it is at most `limit` (a leak shows as never getting
 * there). Returns the last value read; gives up after `timeoutMs`.
 */
export async function settleTo(
  read: () => number,
  limit: number,
  timeoutMs = 10000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let v = read();
  while (v > limit && Date.now() < deadline) {
    await sleep(100);
    v = read();
  }
  return v;
}

/** Megabytes with one decimal, for reports. */
export function mib(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}

/** Raises the open-file limit of a running process (util-linux prlimit). */
export async function raiseFdLimit(pid: number, n = 65536): Promise<void> {
  const out = await new Deno.Command("prlimit", {
    args: [`--nofile=${n}:${n}`, `--pid`, String(pid)],
    stderr: "piped",
    stdout: "null",
  }).output();
  if (!out.success) {
    // Without root the hard limit may be lower: keep the soft limit at the hard one.
    await new Deno.Command("prlimit", {
      args: [`--nofile=${n}`, `--pid`, String(pid)],
      stderr: "null",
      stdout: "null",
    }).output();
  }
}

/** Whether process `pid` exists (it has a /proc entry). */
export function isAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}
