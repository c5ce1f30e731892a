/**
 * websockify's `TokenFile` and `ReadOnlyTokenFile`: a file, or a directory of
 * files, with lines `token: host:port`.
 *
 * Line syntax (websockify's released behaviour):
 * - each line is trimmed first, so blank and indented lines are fine;
 * - `#` at the start of a (trimmed) line is a comment;
 * - the token ends at the first colon followed by whitespace (`tok: host:5900`,
 *   `tok:\thost:5900`); `tok:host:5900` and `tok: host: 5900` are syntax errors;
 * - targets: `host:port`, `[v6]:port`, `v6:port`, `unix_socket:/path`;
 * - after the target, whitespace and the token's settings as `key=value`
 *   words (vncws's addition, `target_settings.ts`):
 *   `tok: host:5900 password="s3 cret" view_only=true`;
 * - a token defined twice: the last definition wins (files in name order).
 *
 * Syntax errors, unknown settings and bad setting values are logged with
 * file, line and the setting's name (never the line's text, which holds a
 * token and perhaps a password) and the line is skipped; the other lines
 * still load. A token whose `expires` has passed does not resolve.
 *
 * Directories: every regular file directly inside, in name order, except
 * names starting with `.` (a deliberate difference from websockify: editor
 * swap files and half-written `.tmp` files of atomic writers are not read).
 * @module
 */
import { join } from "node:path";
import type { Target } from "../net/address.ts";
import { logWarn } from "../base/log.ts";
import {
  parseTokenTarget,
  type TokenAnswer,
  TokenBackendError,
  type TokenResolver,
} from "./resolver.ts";
import { parseSettingsWords, SettingsError, settingsExpired } from "./target_settings.ts";

/** Options for {@linkcode TokenFile}. */
export interface TokenFileOptions {
  /**
   * Check for changes on every lookup (`TokenFile`, default true) or read
   * once at the first lookup (`ReadOnlyTokenFile`).
   */
  reload?: boolean;
}

/** A file's identity and version, compared to decide whether to re-parse it. */
interface Signature {
  mtime: number;
  ctime: number;
  size: number;
  ino: number;
}

interface Parsed {
  sig: Signature;
  /** When parsing started (ms); a file changed in the same clock tick must be re-read. */
  parsedAt: number;
  entries: Map<string, TokenAnswer>;
}

/**
 * Files whose mtime is this close to the parse time are re-parsed on the next
 * lookup even if their signature is unchanged: a rewrite within the same
 * timestamp tick (1 s on some file systems, 2 s on FAT) with the same size
 * would otherwise go unnoticed.
 */
const RACY_MS = 2000;

function signature(info: Deno.FileInfo): Signature {
  return {
    mtime: info.mtime?.getTime() ?? 0,
    ctime: info.ctime?.getTime() ?? 0,
    size: info.size,
    ino: info.ino ?? 0,
  };
}

function sameSignature(a: Signature, b: Signature): boolean {
  return a.mtime === b.mtime && a.ctime === b.ctime && a.size === b.size && a.ino === b.ino;
}

/**
 * Parses token file text into a map of targets and settings; bad lines are
 * logged (file, line, the setting's name) and skipped. Exported for tests
 * and for tools that validate token files.
 */
export function parseTokenFileText(text: string, file: string): Map<string, TokenAnswer> {
  const entries = new Map<string, TokenAnswer>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const error = (reason: string, key?: string) =>
      logWarn("token file syntax error, line skipped", { file, line: i + 1, key, reason });
    const sep = /:\s/.exec(line);
    if (!sep) {
      error('expected "token: host:port" (a colon and a space after the token)');
      continue;
    }
    const token = line.slice(0, sep.index).trim();
    const rest = line.slice(sep.index + 2).trimStart();
    if (token === "") {
      error("empty token");
      continue;
    }
    // The target is the first word; settings may follow it.
    const end = rest.search(/\s/);
    const targetText = end < 0 ? rest : rest.slice(0, end);
    if (targetText.endsWith(":")) {
      error('more than one ": " on the line (write the target as host:port without spaces)');
      continue;
    }
    try {
      const target = parseTokenTarget(targetText);
      const settings = end < 0 ? undefined : parseSettingsWords(rest.slice(end));
      entries.set(token, settings ? { target, settings } : { target });
    } catch (e) {
      // Settings errors name the key and never the value.
      error((e as Error).message, e instanceof SettingsError ? e.key : undefined);
    }
  }
  return entries;
}

/**
 * websockify's `TokenFile` (reload on change) and, with `reload: false`,
 * `ReadOnlyTokenFile`. A lookup costs one `stat` of the source (plus one per
 * file for a directory); files are re-parsed only when their mtime, ctime,
 * size or inode changed, and a directory is re-listed only when its mtime
 * changed.
 */
export class TokenFile implements TokenResolver {
  /** The token file or directory of token files. */
  readonly source: string;
  /** Re-read changed files on lookups (false for `ReadOnlyTokenFile`). */
  readonly reload: boolean;
  /** How many times a file was parsed (tests check that unchanged files are not). */
  parseCount = 0;
  #files = new Map<string, Parsed>();
  #dirSig: Signature | undefined;
  #names: string[] = [];
  #merged: Map<string, TokenAnswer> | undefined;
  #refreshing: Promise<void> | undefined;

  /** Reads nothing yet: the first lookup parses `source`. */
  constructor(source: string, options: TokenFileOptions = {}) {
    this.source = source;
    this.reload = options.reload ?? true;
  }

  /** Resolves a token; rejects with {@linkcode TokenBackendError} when the source is unreadable. */
  async lookup(token: string): Promise<Target | null> {
    return (await this.lookupDetail(token))?.target ?? null;
  }

  /** {@linkcode TokenFile.lookup} with the line's settings; null once its `expires` passed. */
  async lookupDetail(token: string): Promise<TokenAnswer | null> {
    if (this.reload || this.#merged === undefined) {
      // One refresh at a time; concurrent lookups share it.
      this.#refreshing ??= this.#refresh().finally(() => this.#refreshing = undefined);
      await this.#refreshing;
    }
    const answer = this.#merged?.get(token);
    return answer && !settingsExpired(answer.settings, Date.now()) ? answer : null;
  }

  async #refresh(): Promise<void> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(this.source);
    } catch (e) {
      throw new TokenBackendError(
        `token source ${this.source} is unreadable: ${(e as Error).message}`,
        { cause: e },
      );
    }
    let changed = false;
    if (info.isDirectory) {
      const sig = signature(info);
      if (this.#dirSig === undefined || !sameSignature(sig, this.#dirSig)) {
        this.#dirSig = sig;
        this.#names = await this.#listDirectory();
        changed = true;
      }
    } else {
      if (this.#dirSig !== undefined || this.#names.length !== 1) changed = true;
      this.#dirSig = undefined;
      this.#names = [this.source];
    }
    for (const name of [...this.#files.keys()]) {
      if (!this.#names.includes(name)) {
        this.#files.delete(name);
        changed = true;
      }
    }
    for (const name of this.#names) {
      if (await this.#refreshFile(name, info.isDirectory ? undefined : info)) changed = true;
    }
    if (changed || this.#merged === undefined) {
      const merged = new Map<string, TokenAnswer>();
      for (const name of this.#names) {
        for (const [k, v] of this.#files.get(name)?.entries ?? []) merged.set(k, v);
      }
      this.#merged = merged;
    }
  }

  async #listDirectory(): Promise<string[]> {
    const names: string[] = [];
    try {
      for await (const entry of Deno.readDir(this.source)) {
        if (entry.name.startsWith(".")) continue;
        // isFile is false for symlinks; stat follows them so linked files count.
        const path = join(this.source, entry.name);
        if (entry.isFile || (entry.isSymlink && (await statOrUndefined(path))?.isFile)) {
          names.push(path);
        }
      }
    } catch (e) {
      throw new TokenBackendError(
        `token directory ${this.source} is unreadable: ${(e as Error).message}`,
        { cause: e },
      );
    }
    return names.sort();
  }

  /** Re-parses one file if it changed; returns whether its entries may differ. */
  async #refreshFile(path: string, known?: Deno.FileInfo): Promise<boolean> {
    const info = known ?? await statOrUndefined(path);
    const old = this.#files.get(path);
    if (!info || !info.isFile) {
      // Vanished between listing and stat: drop it until the directory changes again.
      if (old) this.#files.delete(path);
      return old !== undefined;
    }
    const sig = signature(info);
    if (old && sameSignature(old.sig, sig) && sig.mtime < old.parsedAt - RACY_MS) return false;
    const parsedAt = Date.now();
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      if (this.#dirSig === undefined) {
        throw new TokenBackendError(
          `token file ${path} is unreadable: ${(e as Error).message}`,
          { cause: e },
        );
      }
      logWarn("token file unreadable, skipped", { file: path, reason: (e as Error).message });
      this.#files.delete(path);
      return true;
    }
    this.parseCount++;
    this.#files.set(path, { sig, parsedAt, entries: parseTokenFileText(text, path) });
    return true;
  }
}

async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch {
    return undefined;
  }
}
