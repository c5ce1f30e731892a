/**
 * `--pid-file`: written once listening, removed on a clean exit. A file
 * that names a live vncws is not overwritten.
 * @module
 */

/** Whether a process with this PID exists (on Linux, /proc/PID). */
export function processAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** Writes the pid file; throws when another live process owns it. */
export function writePidFile(path: string): () => void {
  try {
    const old = Number(Deno.readTextFileSync(path).trim());
    if (old > 0 && old !== Deno.pid && processAlive(old)) {
      throw new Error(
        `pid file ${path} names the running process ${old}; stop it or choose another --pid-file`,
      );
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  Deno.writeTextFileSync(path, `${Deno.pid}\n`, { mode: 0o644 });
  return () => {
    try {
      if (Number(Deno.readTextFileSync(path).trim()) === Deno.pid) Deno.removeSync(path);
    } catch { /* gone */ }
  };
}
