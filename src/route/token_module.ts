/**
 * Token plugins written by the user: `--token-plugin ./my_tokens.ts`
 * (any path ending in `.ts`, `.mts`, `.js` or `.mjs`).
 *
 * The module exports a `lookup` function and, optionally, `close`:
 *
 * ```ts
 * // my_tokens.ts
 * import type { TokenModuleContext, TokenModuleResult } from "vncws/src/route/token_module.ts";
 *
 * export async function lookup(
 *   token: string,
 *   context: TokenModuleContext,
 * ): Promise<TokenModuleResult> {
 *   if (token === "demo") return "127.0.0.1:5901";            // host:port text
 *   if (token === "lab") return { kind: "tcp", hostname: "10.0.0.7", port: 5900 };
 *   if (token === "local") return "unix_socket:/run/vnc/local.sock";
 *   if (token === "watch") return { target: "10.0.0.8:5900", view_only: true, max_duration: 600 };
 *   return null;                                                // unknown → 404
 * }
 *
 * export async function close(): Promise<void> {}             // optional, at shutdown
 * ```
 *
 * - `lookup` receives the raw token and a context whose `source` is the
 *   `--token-source` value (a config path, URL, ... — the module decides).
 * - It resolves a {@linkcode Target}, target text (`host:port`, `[v6]:port`,
 *   `v6:port`, `unix_socket:/path`), `null` for "unknown token" (HTTP 404),
 *   or an object `{ target, ...settings }` ({@linkcode TokenModuleAnswer}):
 *   the target (either form) and the token's settings with the names a
 *   token file uses (`password`, `username`, `view_only`, `clipboard`,
 *   `max_duration`, `expires`; see `target_settings.ts`). Any other field
 *   there is an error (503, logged without values).
 * - Throwing {@linkcode TokenBackendError} (or any error) answers 503; the
 *   error message is logged, never sent to the client.
 * - Never log the token itself; use `context.tokenHash(token)`.
 *
 * Loading: the module is loaded with a dynamic `import()` of its absolute
 * file URL, with the permissions vncws runs with. Under `deno run` a
 * TypeScript or JavaScript module works, including its own relative, `npm:`
 * and `https:` imports (Deno type-strips TypeScript). In a binary made with
 * `deno compile`, Deno documents dynamic imports only for modules embedded at
 * compile time: build the binary with `deno compile --include my_tokens.ts`
 * (and pass that same path), or run vncws with `deno run`. Loading an
 * arbitrary module from disk at run time in the compiled binary is not
 * supported (not verified here: the build machines cannot download `denort`).
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Target } from "../net/address.ts";
import type { ClipboardMode } from "../rfb/policy.ts";
import {
  parseTokenTarget,
  type TokenAnswer,
  TokenBackendError,
  tokenHash,
  type TokenResolver,
} from "./resolver.ts";
import { settingsFromObject } from "./target_settings.ts";

/** A module's answer with the token's settings (names as in a token file). */
export interface TokenModuleAnswer {
  /** Where the session connects: a {@linkcode Target} or target text. */
  target: Target | string;
  /** The VNC password vncws answers the server with (never logged). */
  password?: string;
  /** The VeNCrypt Plain user name (needs `password`). */
  username?: string;
  /** Drop the viewer's input. */
  view_only?: boolean;
  /** Which way clipboard text may go. */
  clipboard?: ClipboardMode;
  /** Seconds the session may last. */
  max_duration?: number;
  /** Unix time (seconds) when the token stops being valid and its session ends. */
  expires?: number;
}

/** What a user module's `lookup` may resolve. */
export type TokenModuleResult = Target | string | TokenModuleAnswer | null;

/** The second argument of a user module's `lookup`. */
export interface TokenModuleContext {
  /** The `--token-source` value, if any. */
  source?: string;
  /** Hash a token for log lines (raw tokens must not be logged). */
  tokenHash(token: string): string;
}

/** The shape a user module must export. */
export interface TokenModule {
  /** Maps `token` to a target (`null`: unknown); may be async. */
  lookup(
    token: string,
    context: TokenModuleContext,
  ): Promise<TokenModuleResult> | TokenModuleResult;
  /** Called once when vncws stops or reloads. */
  close?(): Promise<void> | void;
}

/** True when a `--token-plugin` value names a module file instead of a built-in plugin. */
export function isModulePath(plugin: string): boolean {
  return /\.(ts|mts|js|mjs)$/.test(plugin);
}

/** What a value is, for an error message: its type and field names, never its values. */
function describe(value: unknown): string {
  if (value === null || typeof value !== "object") return typeof value;
  return `an object with fields ${Object.keys(value).join(", ") || "(none)"}`;
}

function toTarget(result: unknown): Target {
  if (typeof result === "string") return parseTokenTarget(result);
  if (typeof result === "object" && result !== null) {
    const t = result as Record<string, unknown>;
    if (t.kind === "unix" && typeof t.path === "string" && t.path !== "") {
      return { kind: "unix", path: t.path };
    }
    if (
      t.kind === "tcp" && typeof t.hostname === "string" && t.hostname !== "" &&
      Number.isInteger(t.port) && (t.port as number) >= 1 && (t.port as number) <= 65535
    ) {
      return { kind: "tcp", hostname: t.hostname, port: t.port as number, tls: t.tls === true };
    }
  }
  throw new Error(
    `lookup returned ${
      describe(result)
    }, not a target, target text, { target, ...settings } or null`,
  );
}

function toAnswer(result: unknown): TokenAnswer | null {
  if (result === null || result === undefined) return null;
  if (typeof result === "object" && "target" in result) {
    const fields = result as Record<string, unknown>;
    const target = toTarget(fields.target);
    const settings = settingsFromObject(fields, { own: ["target"], strict: true });
    return settings ? { target, settings } : { target };
  }
  return { target: toTarget(result) };
}

/** Loads a user module and wraps it as a {@linkcode TokenResolver}. */
export async function loadTokenModule(
  path: string,
  options: { source?: string } = {},
): Promise<TokenResolver> {
  const abs = isAbsolute(path) ? path : resolve(Deno.cwd(), path);
  let mod: Partial<TokenModule>;
  try {
    mod = await import(pathToFileURL(abs).href);
  } catch (e) {
    throw new Error(`token plugin module ${abs} could not be loaded: ${(e as Error).message}`);
  }
  if (typeof mod.lookup !== "function") {
    throw new Error(
      `token plugin module ${abs} must export "lookup(token, context)"; it exports: ${
        Object.keys(mod).join(", ") || "nothing"
      }`,
    );
  }
  const lookup = mod.lookup;
  const context: TokenModuleContext = { source: options.source, tokenHash };
  const lookupDetail = async (token: string): Promise<TokenAnswer | null> => {
    let result: unknown;
    try {
      result = await lookup(token, context);
    } catch (e) {
      if (e instanceof TokenBackendError) throw e;
      throw new TokenBackendError(`token plugin ${abs} failed: ${(e as Error)?.message ?? e}`, {
        cause: e,
      });
    }
    try {
      return toAnswer(result);
    } catch (e) {
      throw new TokenBackendError(`token plugin ${abs}: ${(e as Error).message}`);
    }
  };
  return {
    lookup: async (token) => (await lookupDetail(token))?.target ?? null,
    lookupDetail,
    async close(): Promise<void> {
      await mod.close?.();
    },
  };
}
