/**
 * `--token-plugin NAME --token-source ARG`: builds a {@linkcode TokenResolver}
 * from websockify's plugin names (bare or as
 * `websockify.token_plugins.NAME`) or from a user module path.
 * @module
 */
import { TokenFile } from "./token_file.ts";
import { TokenFileName } from "./token_file_name.ts";
import { isModulePath, loadTokenModule } from "./token_module.ts";
import { UnixDomainSocketDirectory } from "./token_unix_dir.ts";
import type { TokenResolver } from "./resolver.ts";
import type { JwtSecretEncoding } from "../config/config.ts";

export {
  parseTokenTarget,
  type TokenAnswer,
  TokenBackendError,
  tokenHash,
  type TokenResolver,
} from "./resolver.ts";

/** Options for {@linkcode createTokenResolver}. */
export interface TokenResolverOptions {
  /** `--token-source`: file, directory, URL, key file or Redis address. */
  source?: string;
  /** Seconds for HTTP API, JWKS and Redis requests (default 5). */
  timeout?: number;
  /** Seconds an HTTP API answer stays cached (default 5; 0 = off). */
  cacheTtl?: number;
  /** Seconds of clock skew tolerated for JWT `nbf`/`exp` (default 30). */
  clockSkew?: number;
  /** `--jwt-secret-encoding`: a JWT shared-secret file's reading (default base64url). */
  secretEncoding?: JwtSecretEncoding;
  /** `--jwt-audience`: JWTs must carry this `aud`. */
  audience?: string;
  /** `--jwt-issuer`: JWTs must carry this `iss`. */
  issuer?: string;
}

type Factory = (
  source: string,
  options: TokenResolverOptions,
) => TokenResolver | Promise<TokenResolver>;

const PLUGINS: Record<string, Factory> = {
  TokenFile: (s) => new TokenFile(s, { reload: true }),
  ReadOnlyTokenFile: (s) => new TokenFile(s, { reload: false }),
  TokenFileName: (s) => new TokenFileName(s),
  // Backends with npm dependencies (jose, ioredis) load only when chosen: a
  // plain proxy starts without them.
  BaseTokenAPI: async (s, o) => new (await import("./token_api.ts")).BaseTokenAPI(s, o),
  JSONTokenApi: async (s, o) => new (await import("./token_api.ts")).JSONTokenApi(s, o),
  JWTTokenApi: async (s, o) => {
    const api = new (await import("./token_jwt.ts")).JWTTokenApi(s, o);
    await api.ready(); // a key set URL is fetched before vncws listens (a failure only warns)
    return api;
  },
  TokenRedis: async (s, o) => new (await import("./token_redis.ts")).TokenRedis(s, o),
  UnixDomainSocketDirectory: (s) => new UnixDomainSocketDirectory(s),
};

/** The built-in plugin names, for `--help` and error messages. */
export const TOKEN_PLUGIN_NAMES: readonly string[] = Object.keys(PLUGINS);

const WEBSOCKIFY_PREFIX = "websockify.token_plugins.";

/**
 * Builds the resolver for `--token-plugin` (`plugin`) and `--token-source`.
 * `plugin` is a built-in name (see {@linkcode TOKEN_PLUGIN_NAMES}), the same
 * name prefixed with `websockify.token_plugins.`, or a path to a module ending
 * in `.ts`, `.mts`, `.js` or `.mjs` (see `token_module.ts`). Every built-in
 * plugin needs a source. Throws an Error saying what to fix when the name is
 * unknown or the source is unusable, so the CLI can fail at start.
 * (`--target-config FILE` is websockify's deprecated alias for
 * `--token-plugin TokenFile --token-source FILE`.)
 */
export async function createTokenResolver(
  plugin: string,
  options: TokenResolverOptions = {},
): Promise<TokenResolver> {
  if (isModulePath(plugin)) return await loadTokenModule(plugin, { source: options.source });
  const name = plugin.startsWith(WEBSOCKIFY_PREFIX)
    ? plugin.slice(WEBSOCKIFY_PREFIX.length)
    : plugin;
  const factory = Object.hasOwn(PLUGINS, name) ? PLUGINS[name] : undefined;
  if (!factory) {
    const python = plugin.includes(".")
      ? " (Python plugin classes cannot run in vncws; write a TypeScript module instead)"
      : "";
    throw new Error(
      `unknown token plugin "${plugin}"${python}; use one of ${
        TOKEN_PLUGIN_NAMES.join(", ")
      }, or a path to a .ts/.js module exporting lookup(token, context)`,
    );
  }
  if (options.source === undefined || options.source === "") {
    throw new Error(`token plugin ${name} needs --token-source`);
  }
  return await factory(options.source, options);
}
