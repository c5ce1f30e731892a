/**
 * The check of a WebSocket URL, which both the command line
 * (src/cli/bridge.ts) and `--url-command` use. The bridge's options are
 * declared in src/config/bridge.ts.
 * @module
 */

/** A URL the bridge cannot connect to; the message says what to give instead. */
export class WsUrlError extends Error {}

/** Parses and validates a `ws://` / `wss://` URL; throws {@linkcode WsUrlError}. */
export function parseWsUrl(text: string, what = "URL"): URL {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new WsUrlError(
      `${what} is not a URL; give one like wss://host/path or ws://host:port/path`,
    );
  }
  if (url.protocol === "http:" || url.protocol === "https:") {
    throw new WsUrlError(
      `${what} starts with ${url.protocol}//; the bridge needs ${
        url.protocol === "https:" ? "wss" : "ws"
      }:// instead`,
    );
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new WsUrlError(`${what} must start with ws:// or wss://`);
  }
  if (!url.hostname) throw new WsUrlError(`${what} has no host`);
  url.hash = "";
  return url;
}
