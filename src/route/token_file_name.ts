/**
 * websockify's `TokenFileName`: a directory where the file named by the token
 * holds the target (`host:port`, `[v6]:port`, `v6:port` or
 * `unix_socket:/path`). Read on every lookup, so adding or removing a file
 * takes effect at once.
 * @module
 */
import { join } from "node:path";
import type { Target } from "../net/address.ts";
import { logWarn } from "../base/log.ts";
import { parseTokenTarget, TokenBackendError, tokenHash, type TokenResolver } from "./resolver.ts";

/** True when a token can name a file directly inside a directory. */
export function isPlainFileName(token: string): boolean {
  return token !== "" && token !== "." && token !== ".." && !/[/\0]/.test(token);
}

/** Options for {@linkcode checkTokenDirectory}: words for its errors. */
export interface TokenDirectoryOptions {
  /** The token source's name, e.g. `TokenFileName`. */
  source: string;
  /** What the directory should hold, e.g. `token files`. */
  holds: string;
}

/**
 * Throws unless `dir` is a directory: token sources with a directory check
 * it once at start (as websockify does), not on every lookup.
 */
export function checkTokenDirectory(dir: string, options: TokenDirectoryOptions): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(dir);
  } catch (e) {
    throw new Error(`${options.source} source ${dir} is unreadable: ${(e as Error).message}`);
  }
  if (!info.isDirectory) {
    throw new Error(`${options.source} source ${dir} must be a directory of ${options.holds}`);
  }
}

/** Token → file `<dir>/<token>` holding the target. */
export class TokenFileName implements TokenResolver {
  /** The directory holding one file per token. */
  readonly dir: string;

  /** Throws when `dir` is not a directory (checked once at start, as websockify). */
  constructor(dir: string) {
    checkTokenDirectory(dir, { source: "TokenFileName", holds: "token files" });
    this.dir = dir;
  }

  /** Reads `<dir>/<token>`; a token with `/`, `.` or `..` never names a file. */
  async lookup(token: string): Promise<Target | null> {
    if (!isPlainFileName(token)) return null;
    let text: string;
    try {
      const path = join(this.dir, token);
      if (!(await Deno.stat(path)).isFile) return null;
      text = await Deno.readTextFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw new TokenBackendError(
        `token directory ${this.dir} is unreadable: ${(e as Error).message}`,
        { cause: e },
      );
    }
    try {
      return parseTokenTarget(text);
    } catch (e) {
      logWarn("token file holds no valid target", {
        dir: this.dir,
        token: tokenHash(token),
        reason: (e as Error).message,
      });
      return null;
    }
  }
}
