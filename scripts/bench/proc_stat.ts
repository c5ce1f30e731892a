/**
 * Process-tree accounting from /proc: CPU seconds and memory of a proxy and
 * every process it forked (websockify and socat fork one child per session).
 * @module
 */

const CLK_TCK = 100; // USER_HZ on Linux; /proc/<pid>/stat times are in these units
const PAGE = 4096;

/** Parsed fields of /proc/<pid>/stat that the bench uses. */
interface Stat {
  ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks. */
  ticks: number;
  rssPages: number;
}

function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined; // exited
  }
  // comm may contain spaces and parentheses: fields start after the last ')'
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // f[0] is field 3 (state); utime is field 14 → f[11]
  return {
    ppid: Number(f[1]),
    ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]),
    rssPages: Number(f[21]),
  };
}

/** The PID and all its live descendants (children, grandchildren, ...). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const s = readStat(Number(e.name));
    if (!s) continue;
    const list = children.get(s.ppid) ?? [];
    list.push(Number(e.name));
    children.set(s.ppid, list);
  }
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/**
 * CPU seconds (user + system) used so far by a process tree, including
 * children already reaped (counted in their parent's cutime/cstime).
 */
export function treeCpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) ticks += readStat(p)?.ticks ?? 0;
  return ticks / CLK_TCK;
}

/**
 * Nanosecond CPU time (on-CPU time from each thread's schedstat) of a process
 * tree's live threads, in seconds. Unlike {@linkcode treeCpuSeconds}, a
 * process that runs a few milliseconds is not rounded down to nothing (stat
 * counts whole 10 ms ticks per process): what a fork-per-session relay's
 * mostly idle children use shows. Threads and processes that exited are not
 * counted, so use it where the tree lives through the measurement.
 */
export function treeRunSeconds(pid: number): number {
  let ns = 0;
  for (const p of processTree(pid)) {
    let tasks: Deno.DirEntry[];
    try {
      tasks = [...Deno.readDirSync(`/proc/${p}/task`)];
    } catch {
      continue; // exited
    }
    for (const t of tasks) {
      try {
        ns += Number(Deno.readTextFileSync(`/proc/${p}/task/${t.name}/schedstat`).split(" ")[0]);
      } catch { /* thread exited */ }
    }
  }
  return ns / 1e9;
}

/** Resident memory of a process tree: RSS sum and PSS sum (shared pages split), bytes. */
export function treeMemory(pid: number): { rss: number; pss: number } {
  let rss = 0;
  let pss = 0;
  for (const p of processTree(pid)) {
    rss += (readStat(p)?.rssPages ?? 0) * PAGE;
    try {
      const m = Deno.readTextFileSync(`/proc/${p}/smaps_rollup`).match(/^Pss:\s+(\d+) kB/m);
      if (m) pss += Number(m[1]) * 1024;
    } catch { /* exited, or no smaps_rollup */ }
  }
  return { rss, pss };
}

/** The hard RLIMIT_NOFILE of this process (children inherit it). */
export function hardNofile(): number {
  const line = Deno.readTextFileSync("/proc/self/limits").split("\n")
    .find((l) => l.startsWith("Max open files"));
  const hard = line?.trim().split(/\s+/)[4];
  return hard === undefined || hard === "unlimited" ? 1 << 20 : Number(hard);
}
