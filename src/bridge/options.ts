/**
 * The `vncws bridge` command line: options (before or after the
 * positionals), validation with messages that say how to fix the problem,
 * and the help text.
 * @module
 */
import { parseArgs } from "node:util";
import { parseListen } from "../net/address.ts";
import { protocolList } from "./ws_client.ts";

/** Where the bridge takes local connections. */
export type BridgeListen =
  | { kind: "tcp"; hostname: string; port: number }
  | { kind: "unix"; path: string }
  | { kind: "stdio" };

/** A validated bridge configuration (files not read yet; see {@linkcode BridgeConfig.tlsFiles}). */
export interface BridgeConfig {
  listen: BridgeListen;
  /** The WebSocket URL, unless `urlCommand` gives one per connection. */
  url?: URL;
  urlCommand?: string;
  protocols?: string;
  allowNoProtocol: boolean;
  headers: Array<[string, string]>;
  origin?: string;
  userAgent?: string;
  /** `user:pass` from `--basic-auth`; wins over the URL's userinfo. */
  basicAuth?: string;
  /** `user:pass` from VNCWS_BRIDGE_AUTH; used when neither the flag nor the URL has one. */
  envAuth?: string;
  cookies: string[];
  insecure: boolean;
  sni?: string;
  /** Paths given with `--ca`, `--cert`, `--key`. */
  tlsFiles: { ca?: string; cert?: string; key?: string };
  pingInterval: number;
  pingTimeout: number;
  /** Seconds for URL command + TCP + TLS + handshake. */
  connectTimeout: number;
  once: boolean;
  verbose: number;
  logFormat: "text" | "json";
}

/** A mistake on the command line; the message says what and how to fix it. */
export class BridgeUsageError extends Error {}

/** Environment variable holding `user:pass` for Basic auth. */
export const AUTH_ENV = "VNCWS_BRIDGE_AUTH";

/** `vncws bridge --help`. */
export const BRIDGE_HELP = `Usage: vncws bridge [options] [listen_addr:]listen_port URL
       vncws bridge [options] --unix-listen PATH URL
       vncws bridge [options] --stdio URL

Bridges local connections to a WebSocket server: each connection (a native
VNC viewer, for example) gets its own WebSocket to URL (ws:// or wss://) and
bytes flow both ways as binary frames. When either side ends, the other is
closed.

  vncws bridge --protocol "binary, vmware-vvc" -k 5900 wss://esx/ticket/X
  vncviewer 127.0.0.1::5900

Listening:
  [listen_addr:]listen_port   local TCP port; a bare port listens on 127.0.0.1
                              only (the bridge carries your credentials); give
                              0.0.0.0:PORT or [::]:PORT to listen everywhere
  --unix-listen PATH          listen on a unix socket instead
  --stdio                     one connection over stdin/stdout, then exit
                              (ssh ProxyCommand, inetd)
  --once                      exit after the first session ends; VMware
                              tickets are single-use, so a second connection
                              could not work anyway

URL:
  --url-command CMD           run CMD with sh -c for every new connection;
                              the first line it prints is the URL (fetch a
                              fresh single-use ticket there). Replaces URL.

Handshake:
  --protocol LIST             Sec-WebSocket-Protocol sent exactly as given,
                              e.g. "binary, vmware-vvc"; the server's choice
                              must be one of them
  --allow-no-protocol         accept a server that picks none of LIST
  -H, --header "Name: value"  extra request header (repeatable)
  --origin URL                Origin header
  --user-agent TEXT           User-Agent header (default vncws-bridge)
  --basic-auth USER:PASS      Basic auth; else the URL's user:pass@, else the
                              ${AUTH_ENV} environment variable
                              (safer than the command line: ps shows argv)
  --cookie "name=value"       Cookie header (repeatable)
  --connect-timeout SEC       give up on a connection after SEC seconds:
                              URL command, TCP, TLS and handshake (default 10)

TLS (wss://):
  -k, --insecure              do not verify the server's certificate
  --ca FILE                   trust the CA certificates in FILE (PEM) instead
                              of the system roots
  --cert FILE --key FILE      client certificate and key (PEM)
  --sni NAME                  server name for SNI and certificate checks

Keepalive:
  --ping-interval SEC         send a ping every SEC seconds (default off)
  --ping-timeout SEC          close when nothing comes back SEC seconds after
                              a ping (needs --ping-interval)

Output:
  -v, --verbose               debug log lines
  --log-format text|json      log line format (default text)
  -h, --help                  this help

Exit codes: 0 ok, 1 a connection failed (--once, --stdio) or a runtime error,
2 usage error.`;

const RESERVED = new Set([
  "upgrade",
  "connection",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-accept",
  "sec-websocket-extensions",
]);

/** Parses one `-H "Name: value"`; throws {@linkcode BridgeUsageError}. */
export function parseHeader(text: string): [string, string] {
  const i = text.indexOf(":");
  const name = i > 0 ? text.slice(0, i).trim() : "";
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
    throw new BridgeUsageError(
      `-H "${text}" is not a header; write it as -H "Name: value" (for example -H "X-Ticket: abc")`,
    );
  }
  const value = text.slice(i + 1).trim();
  if (/[\r\n\0]/.test(value)) throw new BridgeUsageError(`-H ${name}: the value has a line break`);
  const lower = name.toLowerCase();
  if (RESERVED.has(lower)) {
    throw new BridgeUsageError(`-H ${name}: the bridge sets this header itself; leave it out`);
  }
  if (lower === "sec-websocket-protocol") {
    throw new BridgeUsageError(`-H ${name}: use --protocol "${value}" instead`);
  }
  return [name, value];
}

function seconds(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < 0) {
    throw new BridgeUsageError(`${flag} "${text}" is not a number of seconds (for example 30)`);
  }
  return n;
}

/** Parses and validates a `ws://` / `wss://` URL. */
export function parseWsUrl(text: string, what = "URL"): URL {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new BridgeUsageError(
      `${what} is not a URL; give one like wss://host/path or ws://host:port/path`,
    );
  }
  if (url.protocol === "http:" || url.protocol === "https:") {
    throw new BridgeUsageError(
      `${what} starts with ${url.protocol}//; the bridge needs ${
        url.protocol === "https:" ? "wss" : "ws"
      }:// instead`,
    );
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new BridgeUsageError(`${what} must start with ws:// or wss://`);
  }
  if (!url.hostname) throw new BridgeUsageError(`${what} has no host`);
  url.hash = "";
  return url;
}

function noLineBreak(value: string | undefined, flag: string): string | undefined {
  if (value !== undefined && /[\r\n\0]/.test(value)) {
    throw new BridgeUsageError(`${flag}: the value has a line break`);
  }
  return value;
}

/** The result of parsing: help asked for, or a configuration to run. */
export type BridgeCommand = { kind: "help" } | { kind: "run"; config: BridgeConfig };

/** Parses `vncws bridge` arguments (without "bridge"). Throws {@linkcode BridgeUsageError}. */
export function parseBridgeArgs(
  argv: string[],
  env: Record<string, string | undefined> = {},
): BridgeCommand {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        help: { type: "boolean", short: "h" },
        "unix-listen": { type: "string" },
        stdio: { type: "boolean" },
        once: { type: "boolean" },
        "url-command": { type: "string" },
        protocol: { type: "string" },
        "allow-no-protocol": { type: "boolean" },
        header: { type: "string", short: "H", multiple: true },
        origin: { type: "string" },
        "user-agent": { type: "string" },
        "basic-auth": { type: "string" },
        cookie: { type: "string", multiple: true },
        insecure: { type: "boolean", short: "k" },
        ca: { type: "string" },
        cert: { type: "string" },
        key: { type: "string" },
        sni: { type: "string" },
        "ping-interval": { type: "string" },
        "ping-timeout": { type: "string" },
        "connect-timeout": { type: "string" },
        verbose: { type: "boolean", short: "v", multiple: true },
        "log-format": { type: "string" },
      },
    });
  } catch (e) {
    // parseArgs messages name the option; never echo a value (it may be a password).
    const msg = e instanceof Error ? e.message : String(e);
    throw new BridgeUsageError(msg.replace(/\s*To specify a positional.*$/s, ""));
  }
  const v = parsed.values;
  if (v.help) return { kind: "help" };

  const urls = parsed.positionals.filter((p) => p.includes("://"));
  const others = parsed.positionals.filter((p) => !p.includes("://"));
  if (urls.length > 1) throw new BridgeUsageError("more than one URL given; give exactly one");
  const urlCommand = v["url-command"];
  if (urls.length === 1 && urlCommand !== undefined) {
    throw new BridgeUsageError("give either a URL or --url-command, not both");
  }
  if (urls.length === 0 && urlCommand === undefined) {
    throw new BridgeUsageError(
      "no WebSocket URL; add one like wss://host/path (or --url-command CMD)",
    );
  }
  if (urlCommand !== undefined && urlCommand.trim() === "") {
    throw new BridgeUsageError("--url-command is empty; give a command that prints the URL");
  }

  let listen: BridgeListen;
  const modes = [others.length > 0, v["unix-listen"] !== undefined, v.stdio === true]
    .filter(Boolean).length;
  if (modes > 1) {
    throw new BridgeUsageError(
      "give only one of a listen port, --unix-listen PATH and --stdio",
    );
  }
  if (others.length > 1) {
    throw new BridgeUsageError(
      `unexpected argument "${others[1]}"; the usage is [listen_addr:]listen_port URL`,
    );
  }
  if (v.stdio) {
    listen = { kind: "stdio" };
  } else if (v["unix-listen"] !== undefined) {
    if (v["unix-listen"] === "") throw new BridgeUsageError("--unix-listen needs a path");
    listen = { kind: "unix", path: v["unix-listen"] };
  } else if (others.length === 1) {
    let hp;
    try {
      hp = parseListen(others[0]);
    } catch (e) {
      throw new BridgeUsageError(
        `${(e as Error).message} (the usage is [listen_addr:]listen_port URL)`,
      );
    }
    listen = { kind: "tcp", hostname: hp.hostname || "127.0.0.1", port: hp.port };
  } else {
    throw new BridgeUsageError(
      "no listen port; give one before the URL (for example 5900 or 127.0.0.1:5900), " +
        "or --unix-listen PATH, or --stdio",
    );
  }

  const url = urls.length === 1 ? parseWsUrl(urls[0]) : undefined;
  const protocols = noLineBreak(v.protocol, "--protocol");
  if (protocols !== undefined && protocolList(protocols).length === 0) {
    throw new BridgeUsageError('--protocol is empty; give a list like "binary, vmware-vvc"');
  }
  const basicAuth = v["basic-auth"];
  if (basicAuth !== undefined && !basicAuth.includes(":")) {
    throw new BridgeUsageError("--basic-auth must look like user:password");
  }
  const envAuth = env[AUTH_ENV] || undefined;
  if (envAuth !== undefined && !envAuth.includes(":")) {
    throw new BridgeUsageError(`${AUTH_ENV} must look like user:password`);
  }
  if ((v.cert === undefined) !== (v.key === undefined)) {
    throw new BridgeUsageError("--cert and --key go together; give both (PEM files)");
  }
  const pingInterval = seconds(v["ping-interval"], "--ping-interval", 0);
  const pingTimeout = seconds(v["ping-timeout"], "--ping-timeout", 0);
  if (pingTimeout > 0 && pingInterval === 0) {
    throw new BridgeUsageError("--ping-timeout needs --ping-interval SEC (pings to time out)");
  }
  const connectTimeout = seconds(v["connect-timeout"], "--connect-timeout", 10);
  if (connectTimeout === 0) throw new BridgeUsageError("--connect-timeout must be above 0");
  const logFormat = v["log-format"] ?? "text";
  if (logFormat !== "text" && logFormat !== "json") {
    throw new BridgeUsageError(`--log-format "${logFormat}": use text or json`);
  }
  const tlsGiven = v.insecure || v.ca !== undefined || v.cert !== undefined ||
    v.sni !== undefined;
  if (tlsGiven && url && url.protocol !== "wss:") {
    throw new BridgeUsageError(
      "TLS options (-k, --ca, --cert, --key, --sni) only apply to wss:// URLs",
    );
  }
  return {
    kind: "run",
    config: {
      listen,
      url,
      urlCommand,
      protocols,
      allowNoProtocol: v["allow-no-protocol"] === true,
      headers: (v.header ?? []).map(parseHeader),
      origin: noLineBreak(v.origin, "--origin"),
      userAgent: noLineBreak(v["user-agent"], "--user-agent"),
      basicAuth: noLineBreak(basicAuth, "--basic-auth"),
      envAuth: noLineBreak(envAuth, AUTH_ENV),
      cookies: (v.cookie ?? []).map((c) => noLineBreak(c, "--cookie")!),
      insecure: v.insecure === true,
      sni: v.sni,
      tlsFiles: { ca: v.ca, cert: v.cert, key: v.key },
      pingInterval,
      pingTimeout,
      connectTimeout,
      once: v.once === true,
      verbose: v.verbose?.length ?? 0,
      logFormat,
    },
  };
}
