/**
 * Helpers for the wrap tests: X display numbers that are free, cleanup of
 * the X lock files of displays a test started, and RFB greeting reads.
 * @module
 */
import { readExactly, waitUntil } from "../../scripts/testing/util.ts";
import type { Target } from "../../src/net/address.ts";
import { isAlive, processStart } from "../../src/wrap/proc.ts";
import { exists } from "../../src/base/fs.ts";

export { exists };

function portFree(port: number): boolean {
  for (const hostname of ["0.0.0.0", "::"]) {
    try {
      Deno.listen({ hostname, port }).close();
    } catch {
      return false;
    }
  }
  return true;
}

const taken = new Set<number>();

/** A display number in 40..59 with no X lock/socket and free ports 5900+N and 6000+N. */
export function pickDisplay(): number {
  const start = 40 + Math.floor(Math.random() * 20);
  for (let i = 0; i < 20; i++) {
    const n = 40 + (start - 40 + i) % 20;
    if (taken.has(n)) continue;
    if (exists(`/tmp/.X${n}-lock`) || exists(`/tmp/.X11-unix/X${n}`)) continue;
    if (!portFree(5900 + n) || !portFree(6000 + n)) continue;
    taken.add(n);
    return n;
  }
  throw new Error("no free X display number in 40..59");
}

/** Removes the X lock file and socket of a display this test started. */
export function cleanupDisplay(n: number): void {
  for (const p of [`/tmp/.X${n}-lock`, `/tmp/.X11-unix/X${n}`]) {
    try {
      Deno.removeSync(p);
    } catch { /* not there */ }
  }
  taken.delete(n);
}

/** Connects to a tcp target and reads the 12-byte RFB greeting. */
export async function rfbGreeting(target: Target): Promise<string> {
  if (target.kind !== "tcp") throw new Error("tcp target expected");
  const conn = await Deno.connect({ hostname: target.hostname, port: target.port });
  try {
    return new TextDecoder().decode(await readExactly(conn, 12));
  } finally {
    conn.close();
  }
}

export { waitUntil };

/** A PID and its start time, to check later that exactly that process is gone. */
export function identify(pid: number): { pid: number; start: number } {
  const start = processStart(pid);
  if (start === undefined) throw new Error(`process ${pid} is not running`);
  return { pid, start };
}

export { isAlive };
