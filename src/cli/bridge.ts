/**
 * The `vncws bridge` command line: its option table
 * ({@linkcode BRIDGE_COMMAND}), websocat's spellings of the same things
 * (`-b`, `-E`, `--oneshot`, `tcp-listen:ADDR`…) and a named refusal for the
 * websocat options it does not have, validation with messages that say how
 * to fix the problem, and the entry point that reads the TLS files and runs
 * the bridge.
 * @module
 */
import { BRIDGE_DEFAULTS, type BridgeConfig, type BridgeListen } from "../config/bridge.ts";
import { parseListen } from "../net/address.ts";
import { message, PemReadError, readPem } from "../net/tls_files.ts";
import { configureLog } from "../base/log.ts";
import { parseWsUrl, WsUrlError } from "../bridge/ws_url.ts";
import { runBridge } from "../bridge/main.ts";
import type { BridgeTlsOptions } from "../bridge/transport.ts";
import { DEFAULT_USER_AGENT, protocolList } from "../bridge/ws_client.ts";
import { type CommandSpec, flag, parseOptions, renderHelp, valued } from "./table.ts";
import { logFormat, seconds, text, UsageError } from "./values.ts";
import { websocatAddress, websocatRefusal } from "./websocat.ts";

export type { BridgeTlsOptions };

/** Environment variable holding `user:pass` for Basic auth. */
export const AUTH_ENV = "VNCWS_BRIDGE_AUTH";

const B = BRIDGE_DEFAULTS;
const V = "vncws";
const WS = "websocat";

/** Every `vncws bridge` option, once. */
export const BRIDGE_COMMAND: CommandSpec = {
  name: "vncws bridge",
  usage: [
    "[options] [listen_addr:]listen_port URL",
    "[options] tcp-listen:listen_addr:listen_port URL   (websocat's spelling)",
    "[options] --unix-listen PATH URL",
    "[options] --stdio URL",
  ],
  intro: [
    "Bridges local connections to a WebSocket server: each connection (a native VNC " +
    "viewer, for example) gets its own WebSocket to URL (ws:// or wss://) and bytes flow " +
    "both ways as binary frames. When either side ends, the other is closed. Defaults are " +
    "in brackets.",
    '  vncws bridge --protocol "binary, vmware-vvc" -k 5900 wss://esx/ticket/X\n' +
    "  vncviewer 127.0.0.1::5900",
    "A bare listen port listens on 127.0.0.1 only, because the bridge carries your " +
    "credentials; give 0.0.0.0:PORT or [::]:PORT to listen everywhere.",
  ],
  arguments: [
    [
      "[listen_addr:]listen_port",
      "the local TCP port; a bare port listens on 127.0.0.1 only",
    ],
    ["URL", "the WebSocket to open for each connection: ws://… or wss://…"],
  ],
  groups: [
    { id: "listen", title: "Listening:" },
    { id: "url", title: "URL:" },
    { id: "handshake", title: "Handshake:" },
    { id: "tls", title: "TLS (wss://):" },
    { id: "keepalive", title: "Keepalive:" },
    { id: "output", title: "Output:" },
    { id: "websocat", title: "websocat's spellings (accepted, see above for what they do):" },
  ],
  options: [
    valued("unix-listen", text("PATH"), "listen", V, "listen on a unix socket instead"),
    flag("stdio", "listen", V, "one connection over stdin/stdout, then exit (ssh ProxyCommand)"),
    flag(
      "once",
      "listen",
      V,
      "exit after the first session ends; VMware tickets are single-use, so a second " +
        "connection could not work anyway",
    ),
    valued(
      "url-command",
      text("CMD", "get-ticket"),
      "url",
      V,
      "run CMD with sh -c for every new connection; the first line it prints is the URL " +
        "(fetch a fresh single-use ticket there). Replaces URL.",
    ),
    valued(
      "protocol",
      text("LIST", "binary"),
      "handshake",
      WS,
      'Sec-WebSocket-Protocol sent exactly as given, e.g. "binary, vmware-vvc"; the ' +
        "server's choice must be one of them",
    ),
    flag("allow-no-protocol", "handshake", V, "accept a server that picks none of --protocol"),
    valued(
      "header",
      text('"Name: value"', "X-Ticket: abc"),
      "handshake",
      WS,
      "extra request header (repeatable)",
      { short: "H", repeatable: true },
    ),
    valued("origin", text("URL", "https://h"), "handshake", WS, "Origin header"),
    valued("user-agent", text("TEXT"), "handshake", V, "User-Agent header", {
      default: DEFAULT_USER_AGENT,
    }),
    valued(
      "basic-auth",
      text("USER:PASS", "u:p"),
      "handshake",
      WS,
      `Basic auth; else the URL's user:pass@, else the ${AUTH_ENV} environment variable ` +
        "(safer than the command line: ps shows argv)",
    ),
    valued("cookie", text('"name=value"', "a=b"), "handshake", V, "Cookie header (repeatable)", {
      repeatable: true,
    }),
    valued(
      "connect-timeout",
      seconds,
      "handshake",
      V,
      "give up on a connection after SEC seconds: URL command, TCP, TLS and handshake",
      { default: B.connectTimeout },
    ),
    flag("insecure", "tls", WS, "do not verify the server's certificate", { short: "k" }),
    valued(
      "ca",
      text("FILE"),
      "tls",
      V,
      "trust the CA certificates in FILE (PEM) instead of the system roots",
    ),
    valued("cert", text("FILE"), "tls", V, "client certificate (PEM); needs --key"),
    valued("key", text("FILE"), "tls", V, "the client certificate's key (PEM)"),
    valued("sni", text("NAME", "h"), "tls", V, "server name for SNI and certificate checks"),
    valued("ping-interval", seconds, "keepalive", WS, "send a ping every SEC seconds; 0 = off", {
      default: B.pingInterval,
    }),
    valued(
      "ping-timeout",
      seconds,
      "keepalive",
      WS,
      "close when nothing comes back SEC seconds after a ping (needs --ping-interval); 0 = off",
      { default: B.pingTimeout },
    ),
    flag("verbose", "output", WS, "debug log lines", { short: "v", repeatable: true }),
    valued("log-format", logFormat, "output", V, "log line format", {
      default: B.logFormat,
    }),
    flag("help", "output", V, "this help", { short: "h" }),
    flag("binary", "websocat", WS, "no effect: the bridge always sends binary frames", {
      short: "b",
    }),
    flag(
      "exit-on-eof",
      "websocat",
      WS,
      "no effect: a session always ends when either side ends (EOF from the viewer sends " +
        "close 1000; the server's close or EOF closes the viewer's connection)",
      { short: "E" },
    ),
    flag("oneshot", "websocat", WS, "the same as --once"),
  ],
  explainUnknown: websocatRefusal,
  footer: [
    "websocat's address tcp-listen:ADDR (also tcp-l:, l-tcp:) is a listen address,",
    "unix-listen:PATH is --unix-listen PATH, and - is --stdio.",
    "",
    "Exit codes: 0 ok, 1 a connection failed (--once, --stdio) or a runtime error,",
    "2 usage error.",
  ],
};

/** `vncws bridge --help`, generated from {@linkcode BRIDGE_COMMAND}. */
export const BRIDGE_HELP: string = renderHelp(BRIDGE_COMMAND);

const RESERVED = new Set([
  "upgrade",
  "connection",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-accept",
  "sec-websocket-extensions",
]);

/** Parses one `-H "Name: value"`; throws {@linkcode UsageError}. */
export function parseHeader(text: string): [string, string] {
  const i = text.indexOf(":");
  const name = i > 0 ? text.slice(0, i).trim() : "";
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
    throw new UsageError(
      `-H "${text}" is not a header; write it as -H "Name: value" (for example -H "X-Ticket: abc")`,
    );
  }
  const value = text.slice(i + 1).trim();
  if (/[\r\n\0]/.test(value)) throw new UsageError(`-H ${name}: the value has a line break`);
  const lower = name.toLowerCase();
  if (RESERVED.has(lower)) {
    throw new UsageError(`-H ${name}: the bridge sets this header itself; leave it out`);
  }
  if (lower === "sec-websocket-protocol") {
    throw new UsageError(`-H ${name}: use --protocol "${value}" instead`);
  }
  return [name, value];
}

function noLineBreak(value: string | undefined, flag: string): string | undefined {
  if (value !== undefined && /[\r\n\0]/.test(value)) {
    throw new UsageError(`${flag}: the value has a line break`);
  }
  return value;
}

function wsUrl(text: string): URL {
  try {
    return parseWsUrl(text);
  } catch (e) {
    if (e instanceof WsUrlError) throw new UsageError(e.message);
    throw e;
  }
}

/** The result of parsing: help asked for, or a configuration to run. */
export type BridgeCommand = { kind: "help" } | { kind: "run"; config: BridgeConfig };

/** The listen mode from the positionals (websocat's addresses included) and the flags. */
function listenFrom(others: string[], unixListen: string | undefined, stdio: boolean) {
  const modes = [others.length > 0, unixListen !== undefined, stdio].filter(Boolean).length;
  if (modes > 1) {
    throw new UsageError("give only one of a listen port, --unix-listen PATH and --stdio");
  }
  if (others.length > 1) {
    throw new UsageError(
      `unexpected argument "${others[1]}"; the usage is [listen_addr:]listen_port URL`,
    );
  }
  if (stdio) return { kind: "stdio" } as const;
  if (unixListen !== undefined) {
    if (unixListen === "") throw new UsageError("--unix-listen needs a path");
    return { kind: "unix", path: unixListen } as const;
  }
  if (others.length === 0) {
    throw new UsageError(
      "no listen port; give one before the URL (for example 5900 or 127.0.0.1:5900), " +
        "or --unix-listen PATH, or --stdio",
    );
  }
  let hp;
  try {
    hp = parseListen(others[0]);
  } catch (e) {
    throw new UsageError(`${(e as Error).message} (the usage is [listen_addr:]listen_port URL)`);
  }
  return { kind: "tcp", hostname: hp.hostname || "127.0.0.1", port: hp.port } as const;
}

/** Parses `vncws bridge` arguments (without "bridge"). Throws {@linkcode UsageError}. */
export function parseBridgeArgs(
  argv: string[],
  env: Record<string, string | undefined> = {},
): BridgeCommand {
  const o = parseOptions(BRIDGE_COMMAND, argv);
  if (o.given("help")) return { kind: "help" };

  // websocat's address forms become the flags they stand for.
  let unixListen = o.get<string>("unix-listen");
  let stdio = o.given("stdio");
  const others: string[] = [];
  const urls: string[] = [];
  for (const p of o.positionals) {
    const w = websocatAddress(p);
    if (w?.kind === "unix" && unixListen === undefined) unixListen = w.path;
    else if (w?.kind === "unix") throw new UsageError("give --unix-listen PATH only once");
    else if (w?.kind === "stdio") stdio = true;
    else if (w?.kind === "tcp") others.push(w.address);
    else if (p.includes("://")) urls.push(p);
    else others.push(p);
  }
  if (urls.length > 1) throw new UsageError("more than one URL given; give exactly one");
  const urlCommand = o.get<string>("url-command");
  if (urls.length === 1 && urlCommand !== undefined) {
    throw new UsageError("give either a URL or --url-command, not both");
  }
  if (urls.length === 0 && urlCommand === undefined) {
    throw new UsageError("no WebSocket URL; add one like wss://host/path (or --url-command CMD)");
  }
  if (urlCommand !== undefined && urlCommand.trim() === "") {
    throw new UsageError("--url-command is empty; give a command that prints the URL");
  }
  const listen: BridgeListen = listenFrom(others, unixListen, stdio);

  const url = urls.length === 1 ? wsUrl(urls[0]) : undefined;
  const protocols = noLineBreak(o.get<string>("protocol"), "--protocol");
  if (protocols !== undefined && protocolList(protocols).length === 0) {
    throw new UsageError('--protocol is empty; give a list like "binary, vmware-vvc"');
  }
  const basicAuth = o.get<string>("basic-auth");
  if (basicAuth !== undefined && !basicAuth.includes(":")) {
    throw new UsageError("--basic-auth must look like user:password");
  }
  const envAuth = env[AUTH_ENV] || undefined;
  if (envAuth !== undefined && !envAuth.includes(":")) {
    throw new UsageError(`${AUTH_ENV} must look like user:password`);
  }
  const tlsFiles = {
    ca: o.get<string>("ca"),
    cert: o.get<string>("cert"),
    key: o.get<string>("key"),
  };
  if ((tlsFiles.cert === undefined) !== (tlsFiles.key === undefined)) {
    throw new UsageError("--cert and --key go together; give both (PEM files)");
  }
  const pingInterval = o.get<number>("ping-interval")!;
  const pingTimeout = o.get<number>("ping-timeout")!;
  if (pingTimeout > 0 && pingInterval === 0) {
    throw new UsageError("--ping-timeout needs --ping-interval SEC (pings to time out)");
  }
  const connectTimeout = o.get<number>("connect-timeout")!;
  if (connectTimeout === 0) throw new UsageError("--connect-timeout must be above 0");
  const sni = o.get<string>("sni");
  const insecure = o.given("insecure");
  const tlsGiven = insecure || tlsFiles.ca !== undefined || tlsFiles.cert !== undefined ||
    sni !== undefined;
  if (tlsGiven && url && url.protocol !== "wss:") {
    throw new UsageError("TLS options (-k, --ca, --cert, --key, --sni) only apply to wss:// URLs");
  }
  return {
    kind: "run",
    config: {
      listen,
      url,
      urlCommand,
      protocols,
      allowNoProtocol: o.given("allow-no-protocol"),
      headers: o.all<string>("header").map(parseHeader),
      origin: noLineBreak(o.get<string>("origin"), "--origin"),
      // The client's own default applies when not given.
      userAgent: o.given("user-agent")
        ? noLineBreak(o.get<string>("user-agent"), "--user-agent")
        : undefined,
      basicAuth: noLineBreak(basicAuth, "--basic-auth"),
      envAuth: noLineBreak(envAuth, AUTH_ENV),
      cookies: o.all<string>("cookie").map((c) => noLineBreak(c, "--cookie")!),
      insecure,
      sni,
      tlsFiles,
      pingInterval,
      pingTimeout,
      connectTimeout,
      once: o.given("once") || o.given("oneshot"),
      verbose: o.count("verbose"),
      logFormat: o.get<"text" | "json">("log-format")!,
    },
  };
}

/** Reads `--ca`, `--cert` and `--key`; an unreadable file is a usage error naming it. */
export async function readTlsFiles(config: BridgeConfig): Promise<BridgeTlsOptions> {
  const read = async (path: string | undefined, flag: string) => {
    if (path === undefined) return undefined;
    try {
      return await readPem(path, flag);
    } catch (e) {
      const why = e instanceof PemReadError ? e.reason : message(e);
      throw new UsageError(`cannot read ${flag} ${path}: ${why}; give a PEM file`);
    }
  };
  return {
    insecure: config.insecure,
    servername: config.sni,
    ca: await read(config.tlsFiles.ca, "--ca"),
    cert: await read(config.tlsFiles.cert, "--cert"),
    key: await read(config.tlsFiles.key, "--key"),
  };
}

/** `vncws bridge …` (argv without "bridge"): parse, read the TLS files, run; the exit code. */
export async function bridgeMain(argv: string[]): Promise<number> {
  let config: BridgeConfig;
  let tls: BridgeTlsOptions;
  try {
    const cmd = parseBridgeArgs(argv, Deno.env.toObject());
    if (cmd.kind === "help") {
      console.log(BRIDGE_HELP);
      return 0;
    }
    config = cmd.config;
    tls = await readTlsFiles(config);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`vncws bridge: ${e.message}\nTry 'vncws bridge --help' for the options.`);
      return 2;
    }
    throw e;
  }
  configureLog({ verbose: config.verbose, format: config.logFormat });
  return await runBridge(config, tls);
}
