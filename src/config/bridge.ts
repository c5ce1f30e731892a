/**
 * `vncws bridge`'s typed options and their defaults: what the command line
 * (src/cli/bridge.ts) produces and the bridge (src/bridge/) runs on.
 * @module
 */

/** Where the bridge takes local connections. */
export type BridgeListen =
  | { kind: "tcp"; hostname: string; port: number }
  | { kind: "unix"; path: string }
  | { kind: "stdio" };

/** A validated bridge configuration (files not read yet; see {@linkcode BridgeConfig.tlsFiles}). */
export interface BridgeConfig {
  /** The local side: a TCP port, a unix socket or stdin/stdout. */
  listen: BridgeListen;
  /** The WebSocket URL, unless `urlCommand` gives one per connection. */
  url?: URL;
  /** A shell command that prints a fresh URL for each connection. */
  urlCommand?: string;
  /** Sec-WebSocket-Protocol, sent exactly as given. */
  protocols?: string;
  /** Accept a server that picks none of `protocols`. */
  allowNoProtocol: boolean;
  /** Extra request headers. */
  headers: Array<[string, string]>;
  /** The Origin header. */
  origin?: string;
  /** The User-Agent header (the client's default when absent). */
  userAgent?: string;
  /** `user:pass` from `--basic-auth`; wins over the URL's userinfo. */
  basicAuth?: string;
  /** `user:pass` from VNCWS_BRIDGE_AUTH; used when neither the flag nor the URL has one. */
  envAuth?: string;
  /** Cookie header values. */
  cookies: string[];
  /** Do not verify the server's certificate. */
  insecure: boolean;
  /** Server name for SNI and the certificate check. */
  sni?: string;
  /** Paths given with `--ca`, `--cert`, `--key`. */
  tlsFiles: { ca?: string; cert?: string; key?: string };
  /** Seconds between pings; 0 = none. */
  pingInterval: number;
  /** Seconds without an answer after a ping before closing; 0 = never. */
  pingTimeout: number;
  /** Seconds for URL command + TCP + TLS + handshake. */
  connectTimeout: number;
  /** Exit after the first session. */
  once: boolean;
  /** 0 quiet, 1 debug lines. */
  verbose: number;
  /** Log line format. */
  logFormat: "text" | "json";
}

/** The bridge's defaults: the one place `vncws bridge --help` and the README read them from. */
export const BRIDGE_DEFAULTS: Readonly<
  Pick<BridgeConfig, "pingInterval" | "pingTimeout" | "connectTimeout" | "logFormat">
> = {
  pingInterval: 0,
  pingTimeout: 0,
  connectTimeout: 10,
  logFormat: "text",
};
