/**
 * websockify's `UnixDomainSocketDirectory`: the token names a unix socket in
 * a directory. Unlike websockify (whose string-prefix check lets
 * `?token=../other.sock` reach any socket on the host), the token must be a
 * plain file name and the resolved path (symlinks followed) must still be
 * inside the resolved directory.
 * @module
 */
import { realpath } from "node:fs/promises";
import { join, sep } from "node:path";
import type { Target } from "../net/address.ts";
import { logInfo } from "../base/log.ts";
import { checkTokenDirectory, isPlainFileName } from "./token_file_name.ts";
import { tokenHash, type TokenResolver } from "./resolver.ts";

/** Token → `<dir>/<token>` when that is a socket inside `dir`. */
export class UnixDomainSocketDirectory implements TokenResolver {
  /** The directory holding one socket per token. */
  readonly dir: string;

  /** Throws when `dir` is not a directory. */
  constructor(dir: string) {
    checkTokenDirectory(dir, { source: "UnixDomainSocketDirectory", holds: "sockets" });
    this.dir = dir;
  }

  /** Resolves to the socket's real path, or `null` (not a socket, outside, missing). */
  async lookup(token: string): Promise<Target | null> {
    if (!isPlainFileName(token)) {
      logInfo("unix socket token refused: not a plain file name", { token: tokenHash(token) });
      return null;
    }
    try {
      // Resolve both every time: the directory itself may be a symlink that moves.
      const root = await realpath(this.dir);
      const real = await realpath(join(this.dir, token));
      if (!real.startsWith(root.endsWith(sep) ? root : root + sep)) {
        logInfo("unix socket token refused: resolves outside the directory", {
          token: tokenHash(token),
        });
        return null;
      }
      if (!(await Deno.stat(real)).isSocket) return null;
      return { kind: "unix", path: real };
    } catch {
      return null; // missing or unreadable: an unknown token
    }
  }
}
