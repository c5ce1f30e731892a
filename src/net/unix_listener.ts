/**
 * `--unix-listen PATH` without stepping on anyone: a socket file at PATH
 * that something still accepts on (another vncws) is left alone and the
 * start fails naming it; a stale one (its server died) is replaced; any
 * other file is an error. At exit only the socket this process made is
 * removed (same inode), never one another process has put there since.
 *
 * Deno unlinks a unix listener's path when the listener closes, whoever's
 * socket is there by then. So the socket is bound under a private name and
 * renamed into place (which also replaces a stale one atomically and shows
 * it only with its final mode); Deno's unlink at close then finds nothing.
 * @module
 */

/** A unix listener and the clean-up of its socket file. */
export interface UnixListener {
  /**
   * The listener on the socket file. Its `addr` names the private name it
   * was bound under: describe it by the path given instead.
   */
  listener: Deno.Listener;
  /** Removes the socket file if it is still the one this listener made. Safe to call twice. */
  removeSocket(): void;
}

/**
 * Listens on the unix socket `path` with file mode `mode` (absent: as the
 * umask leaves it). Used by the proxy's and the bridge's `--unix-listen`. Rejects with
 * `Deno.errors.AddrInUse` when another process accepts on `path`, and with
 * an Error naming `path` when it is not a socket.
 */
export async function openUnixListener(path: string, mode?: number): Promise<UnixListener> {
  let existing: Deno.FileInfo | undefined;
  try {
    existing = Deno.lstatSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (existing && !existing.isSocket) {
    throw new Error(
      `--unix-listen ${path}: a file that is not a socket is in the way; remove it or choose another path`,
    );
  }
  if (existing && await accepts(path)) {
    throw new Deno.errors.AddrInUse(
      `another process serves the unix socket ${path} (a running vncws?) and keeps it`,
    );
  }
  const listener = bindInPlace(path, mode);
  const ino = Deno.statSync(path).ino;
  let removed = false;
  return {
    listener,
    removeSocket() {
      if (removed) return;
      removed = true;
      try {
        const now = Deno.lstatSync(path);
        if (now.isSocket && now.ino === ino) Deno.removeSync(path);
      } catch { /* already gone */ }
    },
  };
}

/** Binds under a private name next to `path`, then renames it over `path` (a stale socket). */
function bindInPlace(path: string, mode: number | undefined): Deno.Listener {
  const temp = `${path}.${Deno.pid}~`;
  try {
    Deno.removeSync(temp); // left by a dead process that had our pid
  } catch { /* none */ }
  let listener: Deno.Listener;
  try {
    listener = Deno.listen({ transport: "unix", path: temp });
  } catch {
    // No room for the private name (socket paths are short) or the folder is
    // not writable: bind in place; only then may Deno's own unlink at close
    // hit a socket that replaced ours.
    try {
      Deno.removeSync(path); // stale: its server is gone
    } catch { /* none */ }
    const l = Deno.listen({ transport: "unix", path });
    if (mode !== undefined) Deno.chmodSync(path, mode);
    return l;
  }
  try {
    if (mode !== undefined) Deno.chmodSync(temp, mode);
    Deno.renameSync(temp, path);
  } catch (e) {
    listener.close();
    throw e;
  }
  return listener;
}

/**
 * Whether something accepts connections on the socket file `path`. Only a
 * refused connect means stale: any other failure is reported, so a live
 * socket is never removed by mistake.
 */
async function accepts(path: string): Promise<boolean> {
  try {
    const probe = await Deno.connect({ transport: "unix", path });
    probe.close();
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.ConnectionRefused || e instanceof Deno.errors.NotFound) {
      return false;
    }
    throw new Error(
      `--unix-listen ${path}: cannot tell whether another process serves it (${
        e instanceof Error ? e.message : e
      }); remove it if it is stale`,
    );
  }
}
