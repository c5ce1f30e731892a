/**
 * Noticing that files changed on disk, by polling their stat.
 *
 * Polling, not `Deno.watchFs`: the tools that renew certificates replace
 * files in ways a watch on the file itself misses. certbot re-points a
 * symlink in `live/NAME/` at a new file in `archive/`; cert-manager (a
 * Kubernetes secret volume) swaps the `..data` symlink to a new timestamped
 * directory; neither touches the inode a watch was put on, and watching every
 * directory a symlink chain passes through would mean re-arming watches as
 * the chain changes. `stat` follows every symlink to the file finally read,
 * so its device, inode, size or times change in all of these cases and in a
 * plain overwrite. A few stats every two seconds cost nothing.
 * @module
 */

/** Options for {@linkcode watchFiles}. */
export interface FileWatchOptions {
  /** Time between polls, in ms (default 2000). */
  intervalMs?: number;
  /**
   * After a change is first seen, how long the files must stay the same
   * before `onChange` runs, in ms (default 500): a writer that replaces two
   * files (certificate, then key) or writes a file in pieces is let finish.
   */
  settleMs?: number;
}

/** A running {@linkcode watchFiles}. */
export interface FileWatch {
  /**
   * Takes the files as they are now as seen: call it just before re-reading
   * them for another reason (SIGHUP), so the poll does not re-read them again.
   */
  rebase(): Promise<void>;
  /** Stops polling. */
  close(): void;
}

/** A string that changes when any of `paths` changes (a missing file counts as a state). */
export async function fileSignature(paths: readonly string[]): Promise<string> {
  const parts = await Promise.all(paths.map(async (p) => {
    try {
      const s = await Deno.stat(p);
      return `${s.dev}:${s.ino}:${s.size}:${s.mtime?.getTime()}:${s.ctime?.getTime()}`;
    } catch (e) {
      return e instanceof Error ? e.name : "error";
    }
  }));
  return paths.map((p, i) => `${p}=${parts[i]}`).join("\n");
}

/**
 * Calls `onChange` when the files `paths()` names change (the list is asked
 * for at every poll, so files that appear in a directory are watched too).
 * `onChange` runs once per new state of the files, whatever it does, so a
 * bad file is reported once and not at every poll. The timer never keeps
 * the process alive.
 */
export async function watchFiles(
  paths: () => Promise<readonly string[]>,
  onChange: () => Promise<void>,
  options: FileWatchOptions = {},
): Promise<FileWatch> {
  const intervalMs = options.intervalMs ?? 2000;
  const settleMs = options.settleMs ?? 500;
  const now = async () => {
    try {
      return await fileSignature(await paths());
    } catch (e) {
      return `paths: ${e instanceof Error ? e.message : String(e)}`;
    }
  };
  let seen = await now();
  let pending: string | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  const schedule = (ms: number) => {
    if (closed) return;
    const t = setTimeout(tick, ms);
    Deno.unrefTimer(t);
    timer = t;
  };
  const tick = async () => {
    timer = undefined;
    const state = await now();
    if (closed) return;
    if (state === seen) {
      pending = undefined;
      return schedule(intervalMs);
    }
    if (state !== pending) {
      pending = state;
      return schedule(settleMs);
    }
    seen = state;
    pending = undefined;
    try {
      await onChange();
    } catch { /* onChange reports its own errors; the next change is tried anew */ }
    schedule(intervalMs);
  };
  schedule(intervalMs);
  return {
    async rebase() {
      seen = await now();
      pending = undefined;
    },
    close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
