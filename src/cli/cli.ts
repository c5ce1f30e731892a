/**
 * Command line → validated {@linkcode Config}. Accepts every websockify
 * command line (its 38 options, interspersed options, `--` for wrap mode)
 * plus vncws's own options. Mistakes raise {@linkcode UsageError} with what
 * is wrong and how to fix it.
 * @module
 */
import { parseArgs } from "node:util";
import { type Config, DEFAULT_LIMITS, defaultConfig, type WrapMode } from "../config/config.ts";
import { parseHostPort, parseListen } from "../net/address.ts";
import { nearest } from "../base/text.ts";

/** Version printed by `--version`. */
export const VERSION = "0.1.0";

/** A command-line mistake: print the message and exit 2. */
export class UsageError extends Error {}

type Opt = { type: "string" | "boolean"; short?: string; multiple?: boolean };

/** Every option vncws accepts. websockify's come first, then ours. */
const OPTIONS: Record<string, Opt> = {
  // websockify's options (same names and meaning)
  help: { type: "boolean", short: "h" },
  verbose: { type: "boolean", short: "v", multiple: true },
  traffic: { type: "boolean" },
  record: { type: "string" },
  daemon: { type: "boolean", short: "D" },
  "run-once": { type: "boolean" },
  timeout: { type: "string" },
  "idle-timeout": { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  "key-password": { type: "string" },
  "ssl-only": { type: "boolean" },
  "ssl-target": { type: "boolean" },
  "verify-client": { type: "boolean" },
  cafile: { type: "string" },
  "ssl-version": { type: "string" },
  "ssl-ciphers": { type: "string" },
  "unix-listen": { type: "string" },
  "unix-listen-mode": { type: "string" },
  "unix-target": { type: "string" },
  inetd: { type: "boolean" },
  web: { type: "string" },
  "web-auth": { type: "boolean" },
  "wrap-mode": { type: "string" },
  "prefer-ipv6": { type: "boolean", short: "6" },
  libserver: { type: "boolean" },
  "target-config": { type: "string" },
  "token-plugin": { type: "string" },
  "token-source": { type: "string" },
  "host-token": { type: "boolean" },
  "auth-plugin": { type: "string" },
  "auth-source": { type: "string" },
  heartbeat: { type: "string" },
  "log-file": { type: "string" },
  syslog: { type: "string" },
  "legacy-syslog": { type: "boolean" },
  "file-only": { type: "boolean" },
  // vncws's own
  version: { type: "boolean" },
  config: { type: "string" },
  demo: { type: "boolean" },
  "dir-listing": { type: "boolean" },
  "frame-options": { type: "string" },
  "target-ca": { type: "string" },
  "ssl-target-insecure": { type: "boolean" },
  "allow-origin": { type: "string", multiple: true },
  "allow-ip": { type: "string", multiple: true },
  "deny-ip": { type: "string", multiple: true },
  "trusted-proxy": { type: "string", multiple: true },
  "max-connections": { type: "string" },
  "max-per-ip": { type: "string" },
  "proxy-protocol": { type: "string" },
  "max-per-token": { type: "string" },
  "handshake-rate": { type: "string" },
  "max-message-size": { type: "string" },
  "max-head-size": { type: "string" },
  "max-headers": { type: "string" },
  "head-timeout": { type: "string" },
  "raw-wait": { type: "string" },
  "connect-timeout": { type: "string" },
  "log-format": { type: "string" },
  metrics: { type: "string" },
  "pid-file": { type: "string" },
  "drain-timeout": { type: "string" },
  "ping-timeout": { type: "string" },
  "session-idle-timeout": { type: "string" },
  "wrap-port-arg": { type: "string" },
  "wrap-ready-timeout": { type: "string" },
  "token-path-prefix": { type: "string" },
};

/** Every long option and its kind, for config files. */
export const OPTION_KINDS: Record<string, "string" | "boolean"> = Object.fromEntries(
  Object.entries(OPTIONS).map(([name, o]) => [name, o.type]),
);

/** Options that may be given more than once. */
export const MULTIPLE_OPTIONS: string[] = Object.entries(OPTIONS)
  .filter(([, o]) => o.multiple).map(([name]) => name);

/** The parsed command line: run the proxy, or print something and exit. */
export type Command =
  | { kind: "run"; config: Config; warnings: string[] }
  | { kind: "help" }
  | { kind: "version" };

/** The known option closest to `name`, for "did you mean" hints. */
export function nearestOption(name: string): string | undefined {
  return nearest(name, Object.keys(OPTIONS));
}

function seconds(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0) {
    throw new UsageError(`--${name} takes a number of seconds (0 or more), got "${value}"`);
  }
  return n;
}

function count(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} takes a whole number, got "${value}"`);
  return Number(value);
}

/** Parses sizes like `65536`, `64k`, `16M`, `1G`. */
export function parseSize(value: string, name: string): number {
  const m = /^(\d+)\s*([kKmMgG]?)i?[bB]?$/.exec(value.trim());
  if (!m) throw new UsageError(`--${name} takes a size like 65536, 64K or 16M, got "${value}"`);
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase()]!;
  return Number(m[1]) * mult;
}

/** Parses argv (without the program name) into a {@linkcode Command}. Throws {@linkcode UsageError}. */
export function parseCommandLine(argv: string[]): Command {
  const dd = argv.indexOf("--");
  const ours = dd < 0 ? argv : argv.slice(0, dd);
  const wrapCommand = dd < 0 ? undefined : argv.slice(dd + 1);
  let parsed;
  try {
    parsed = parseArgs({ args: ours, options: OPTIONS, strict: true, allowPositionals: true });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const m = /Unknown option '(-{1,2})([^']+)'/.exec(msg);
    if (m) {
      const near = nearestOption(m[2]);
      throw new UsageError(
        `unknown option ${m[1]}${m[2]}` + (near ? ` (did you mean --${near}?)` : ""),
      );
    }
    const v = /Option '(?:-\w, )?--([\w-]+) <value>' argument missing/.exec(msg);
    if (v) throw new UsageError(`--${v[1]} needs a value`);
    throw new UsageError(msg.replace(/\. To specify.*$/s, ""));
  }
  const o = parsed.values as Record<string, string | boolean | (string | boolean)[] | undefined>;
  if (o.help) return { kind: "help" };
  if (o.version) return { kind: "version" };

  const str = (k: string) => o[k] as string | undefined;
  const bool = (k: string) => o[k] === true;
  const list = (k: string) =>
    ((o[k] as string[] | undefined) ?? []).flatMap((s) => s.split(/[\s,]+/)).filter((s) => s);
  const c = defaultConfig();
  const warnings: string[] = [];

  // Cross-option rules websockify enforces, with its wording made actionable.
  const needs = (opt: string, needed: string) => {
    if (o[opt] !== undefined && o[opt] !== false && o[needed] === undefined) {
      throw new UsageError(`--${opt} needs --${needed}`);
    }
  };
  needs("token-source", "token-plugin");
  needs("host-token", "token-plugin");
  needs("auth-source", "auth-plugin");
  needs("web-auth", "auth-plugin");
  needs("legacy-syslog", "syslog");
  needs("ssl-only", "cert");
  needs("verify-client", "cert");
  needs("unix-listen-mode", "unix-listen");
  needs("target-ca", "ssl-target");
  needs("ssl-target-insecure", "ssl-target");

  c.verbose = (o.verbose as boolean[] | undefined)?.length ?? 0;
  c.traffic = bool("traffic");
  c.record = str("record");
  c.daemon = bool("daemon");
  c.pidFile = str("pid-file");
  if (str("metrics") !== undefined) {
    try {
      const m = parseListen(str("metrics")!);
      // A bare port serves metrics on loopback only: the status page shows client addresses.
      c.metrics = { hostname: m.hostname || "127.0.0.1", port: m.port };
    } catch (e) {
      throw new UsageError(`--metrics: ${(e as Error).message}; give [addr:]port, e.g. 9180`);
    }
  }
  c.runOnce = bool("run-once");
  c.timeout = seconds(str("timeout"), "timeout", 0);
  c.idleTimeout = seconds(str("idle-timeout"), "idle-timeout", 0);
  c.heartbeat = seconds(str("heartbeat"), "heartbeat", 0);
  c.pingTimeout = seconds(str("ping-timeout"), "ping-timeout", 0);
  c.sessionIdleTimeout = seconds(str("session-idle-timeout"), "session-idle-timeout", 0);
  c.drainTimeout = seconds(str("drain-timeout"), "drain-timeout", 10);
  c.logFile = str("log-file");
  const fmt = str("log-format") ?? "text";
  if (fmt !== "text" && fmt !== "json") {
    throw new UsageError(`--log-format is text or json, got "${fmt}"`);
  }
  c.logFormat = fmt;
  c.syslog = str("syslog");
  c.legacySyslog = bool("legacy-syslog");
  c.preferIpv6 = bool("prefer-ipv6");
  c.inetd = bool("inetd");
  c.unixListen = str("unix-listen");
  if (str("unix-listen-mode") !== undefined) {
    const m = str("unix-listen-mode")!;
    if (!/^[0-7]{3,4}$/.test(m)) {
      throw new UsageError(`--unix-listen-mode takes an octal mode like 0600, got "${m}"`);
    }
    c.unixListenMode = parseInt(m, 8);
  }
  const web = str("web");
  c.web = web === undefined ? "" : web === "none" || web === "off" ? null : web;
  if (web === "") {
    throw new UsageError(`--web needs a directory (or "none" to turn the web server off)`);
  }
  c.dirListing = bool("dir-listing") && !bool("file-only");
  if (c.web) {
    let isDir = false;
    try {
      isDir = Deno.statSync(c.web).isDirectory;
    } catch { /* reported below */ }
    if (!isDir) {
      throw new UsageError(
        `--web ${c.web}: no such directory (give the noVNC or web root directory)`,
      );
    }
  }
  const fo = (str("frame-options") ?? "SAMEORIGIN").toUpperCase();
  if (!["SAMEORIGIN", "DENY", "NONE"].includes(fo)) {
    throw new UsageError(
      `--frame-options is SAMEORIGIN, DENY or none, got "${str("frame-options")}"`,
    );
  }
  c.frameOptions = fo === "NONE" ? "" : fo;
  c.demo = bool("demo");
  c.tls = {
    cert: str("cert"),
    key: str("key"),
    keyPassword: str("key-password"),
    sslOnly: bool("ssl-only"),
    sslVersion: str("ssl-version"),
    sslCiphers: str("ssl-ciphers"),
    verifyClient: bool("verify-client"),
    cafile: str("cafile"),
  };
  c.targetTls = {
    enabled: bool("ssl-target"),
    ca: str("target-ca"),
    insecure: bool("ssl-target-insecure"),
  };
  c.tokenPlugin = str("token-plugin");
  c.tokenSource = str("token-source");
  if (str("target-config") !== undefined) {
    if (c.tokenPlugin) {
      throw new UsageError("--target-config and --token-plugin cannot be used together");
    }
    c.tokenPlugin = "TokenFile";
    c.tokenSource = str("target-config");
    warnings.push(
      "--target-config is deprecated: use --token-plugin TokenFile --token-source FILE",
    );
  }
  c.hostToken = bool("host-token");
  c.authPlugin = str("auth-plugin");
  c.authSource = str("auth-source");
  c.webAuth = bool("web-auth");
  c.allowOrigin = list("allow-origin");
  c.allowIp = list("allow-ip");
  c.denyIp = list("deny-ip");
  c.trustedProxies = list("trusted-proxy");
  c.tokenPathPrefix = str("token-path-prefix");
  const pp = str("proxy-protocol");
  if (pp !== undefined) {
    if (pp !== "v1" && pp !== "v2" && pp !== "1" && pp !== "2") {
      throw new UsageError(`--proxy-protocol is v1 or v2, got "${pp}"`);
    }
    c.proxyProtocol = pp.endsWith("1") ? 1 : 2;
  }
  if (c.tokenPathPrefix !== undefined && !/^\/(.*\/)?$/.test(c.tokenPathPrefix)) {
    throw new UsageError(
      `--token-path-prefix must start and end with "/", e.g. /websockify/, got "${c.tokenPathPrefix}"`,
    );
  }
  if (c.webAuth && c.web === null) {
    throw new UsageError("--web-auth needs the web server (drop --web none)");
  }
  if (bool("libserver")) {
    warnings.push("--libserver has no effect: vncws has a single server implementation");
  }

  c.limits = {
    maxHeadBytes: str("max-head-size")
      ? parseSize(str("max-head-size")!, "max-head-size")
      : DEFAULT_LIMITS.maxHeadBytes,
    maxHeaders: count(str("max-headers"), "max-headers", DEFAULT_LIMITS.maxHeaders),
    headTimeout: seconds(str("head-timeout"), "head-timeout", DEFAULT_LIMITS.headTimeout),
    maxMessageBytes: str("max-message-size")
      ? parseSize(str("max-message-size")!, "max-message-size")
      : DEFAULT_LIMITS.maxMessageBytes,
    maxConnections: count(str("max-connections"), "max-connections", DEFAULT_LIMITS.maxConnections),
    rawWait: seconds(str("raw-wait"), "raw-wait", DEFAULT_LIMITS.rawWait),
    connectTimeout: seconds(
      str("connect-timeout"),
      "connect-timeout",
      DEFAULT_LIMITS.connectTimeout,
    ),
    maxPerIp: count(str("max-per-ip"), "max-per-ip", 0),
    maxPerToken: count(str("max-per-token"), "max-per-token", 0),
    handshakeRate: seconds(str("handshake-rate"), "handshake-rate", 0),
  };
  if (c.limits.headTimeout === 0) throw new UsageError("--head-timeout must be more than 0");
  if (c.limits.maxConnections === 0) throw new UsageError("--max-connections must be at least 1");

  const wrapMode = str("wrap-mode") ?? "exit";
  if (!["exit", "ignore", "respawn"].includes(wrapMode)) {
    throw new UsageError(`--wrap-mode is exit, ignore or respawn, got "${wrapMode}"`);
  }

  // Positionals: [source_addr:]source_port [target_addr:target_port]
  const pos = [...parsed.positionals];
  // Socket activation (systemd passes the listening socket) takes the listen
  // argument's place, as --inetd does.
  const activated = Deno.env.get("LISTEN_FDS") !== undefined &&
    Number(Deno.env.get("LISTEN_PID")) === Deno.pid;
  const noListenArg = c.inetd || c.unixListen !== undefined || activated;
  if (!noListenArg) {
    const listen = pos.shift();
    if (listen === undefined) {
      throw new UsageError("missing the port to listen on, e.g. 'vncws 6080 127.0.0.1:5900'");
    }
    try {
      c.listen = parseListen(listen);
    } catch (e) {
      throw new UsageError(
        `${(e as Error).message}; the first argument is [source_addr:]source_port`,
      );
    }
  }
  if (c.inetd && c.unixListen) {
    throw new UsageError("--inetd and --unix-listen cannot be used together");
  }
  const targetArg = pos.shift();
  if (pos.length > 0) throw new UsageError(`too many arguments: ${pos.join(" ")}`);
  const unixTarget = str("unix-target");

  if (wrapCommand !== undefined) {
    if (wrapCommand.length === 0) {
      throw new UsageError("'--' must be followed by the command to wrap, e.g. '-- Xvnc :1'");
    }
    if (targetArg !== undefined) {
      throw new UsageError(
        `a target (${targetArg}) and a wrapped command cannot be used together: ` +
          "in wrap mode the target is the wrapped server; drop the target",
      );
    }
    if (c.listen === undefined) {
      throw new UsageError("wrap mode needs a TCP listen port (not --unix-listen or --inetd)");
    }
    if (c.tokenPlugin || unixTarget || c.demo) {
      throw new UsageError(
        "wrap mode cannot be combined with --token-plugin, --unix-target or --demo",
      );
    }
    c.wrap = {
      command: wrapCommand,
      mode: wrapMode as WrapMode,
      portArg: (str("wrap-port-arg") ?? "auto") as "preload" | "arg" | "auto",
      readyTimeout: seconds(str("wrap-ready-timeout"), "wrap-ready-timeout", 30),
    };
    if (!["preload", "arg", "auto"].includes(c.wrap.portArg)) {
      throw new UsageError(`--wrap-port-arg is preload, arg or auto, got "${c.wrap.portArg}"`);
    }
  } else if (str("wrap-mode") !== undefined) {
    throw new UsageError("--wrap-mode needs a command to wrap after '--'");
  }

  const routed = [
    c.tokenPlugin && "--token-plugin",
    unixTarget && "--unix-target",
    c.demo && "--demo",
  ].filter(Boolean);
  if (routed.length > 1) throw new UsageError(`${routed.join(" and ")} cannot be used together`);
  if (targetArg !== undefined) {
    if (routed.length > 0) {
      throw new UsageError(
        `too many arguments: ${routed[0]} chooses the target, so drop "${targetArg}"`,
      );
    }
    try {
      const hp = parseHostPort(targetArg);
      c.target = {
        kind: "tcp",
        hostname: hp.hostname,
        port: hp.port,
        tls: c.targetTls.enabled || undefined,
      };
    } catch (e) {
      throw new UsageError(`${(e as Error).message}`);
    }
  } else if (unixTarget !== undefined) {
    c.target = { kind: "unix", path: unixTarget };
  } else if (!c.tokenPlugin && !c.wrap && !c.demo) {
    throw new UsageError(
      "missing the target: give host:port (e.g. 'vncws 6080 127.0.0.1:5900'), " +
        "--unix-target FILE, --token-plugin NAME, --demo, or '-- COMMAND' to wrap a VNC server",
    );
  }
  return { kind: "run", config: c, warnings };
}

/** `--help` text, grouped by topic with an example per group. */
export const HELP = `vncws ${VERSION} — WebSocket ↔ TCP proxy for VNC (websockify-compatible)

Usage:
  vncws [options] [source_addr:]source_port target_addr:target_port
  vncws [options] [source_addr:]source_port -- WRAP_COMMAND...
  vncws [options] --token-plugin NAME --token-source ARG [source_addr:]source_port
  vncws [options] --unix-target FILE [source_addr:]source_port
  vncws --demo [source_addr:]source_port
  vncws bridge [options] [listen_addr:]listen_port ws[s]://host/path
  vncws replay [--port P] [--speed N] RECORDING

  'vncws bridge --help' lists the bridge's options (a local port → a remote
  WebSocket console such as VMware, Proxmox or QEMU).

Proxy (example: vncws 6080 127.0.0.1:5900)
  A bare port listens on all interfaces, IPv4 and IPv6. Browsers, WebSocket
  clients and native VNC viewers (raw TCP) share the port.
  -6, --prefer-ipv6          prefer IPv6 when resolving source_addr
  --unix-listen FILE         listen on a unix socket instead of TCP
  --unix-listen-mode OCT     unix socket file mode (default 0600)
  --unix-target FILE         connect to a unix socket target
  --inetd                    use the listening socket inherited on fd 0
  --raw-wait SEC             a client silent this long is relayed as raw TCP
                             (native VNC viewers; default ${DEFAULT_LIMITS.rawWait}; 0 = off)
  --connect-timeout SEC      target connect timeout (default ${DEFAULT_LIMITS.connectTimeout}); failure → HTTP 502
  --heartbeat SEC            send a WebSocket ping every SEC seconds
  --ping-timeout SEC         with --heartbeat: close sessions whose peer stops answering
  --session-idle-timeout SEC close a session with no data either way for SEC seconds
  --proxy-protocol v1|v2     send the client address to the target first (HAProxy
                             PROXY protocol; the VNC server must expect it)

Web and viewer (example: vncws --web /usr/share/novnc 6080 127.0.0.1:5900)
  --web DIR|none             serve DIR on the same port (default: the bundled viewer
                             at /vnc.html; "none" turns the web server off)
  --dir-listing              list directories without index.html (off by default)
  --file-only                websockify's switch; listings are off anyway
  --frame-options V          X-Frame-Options: SAMEORIGIN (default), DENY or none
                             (none lets other sites embed the viewer)
  --demo                     target a built-in demo desktop (try: vncws --demo 6080)

TLS (example: vncws --cert server.pem --key key.pem 6443 127.0.0.1:5900)
  --cert FILE, --key FILE    serve wss:// and https:// (plain clients still accepted)
  --key-password PW          password of an encrypted key
  --ssl-only                 refuse plain connections (TLS then runs natively: faster)
  --ssl-version V            minimum: default, tlsv1_1, tlsv1_2, tlsv1_3
  --ssl-ciphers LIST         OpenSSL cipher list
  --verify-client            require a client certificate signed by --cafile
  --cafile FILE              CA bundle for --verify-client
  --ssl-target               TLS to the target (verified)
  --target-ca FILE           extra CA for --ssl-target
  --ssl-target-insecure      do not verify the target's certificate

Tokens and access (example: vncws --token-plugin TokenFile --token-source tokens.conf 6080)
  --token-plugin NAME        TokenFile, ReadOnlyTokenFile, TokenFileName, BaseTokenAPI,
                             JSONTokenApi, JWTTokenApi, TokenRedis,
                             UnixDomainSocketDirectory, or a module path
  --token-source ARG         the plugin's source (file, directory, URL, key, redis)
  --target-config FILE       deprecated: --token-plugin TokenFile --token-source FILE
  --host-token               take the token from the Host header
  --token-path-prefix P      path prefix holding the token (default /websockify/)
  --auth-plugin NAME         BasicHTTPAuth, ExpectOrigin, ClientCertCNAuth
  --auth-source ARG          the auth plugin's source
  --web-auth                 also require auth for static files
  --allow-origin LIST        accept only these Origin values
  --allow-ip CIDR, --deny-ip CIDR (repeatable or comma-separated)
  --trusted-proxy CIDR       peers whose X-Forwarded-For/Forwarded name the client

Wrap mode (example: vncws 5901 -- Xvnc :1 -SecurityTypes None)
  --wrap-mode MODE           exit (default), ignore or respawn when the command exits
  --wrap-port-arg MODE       preload (LD_PRELOAD shim), arg (-rfbport) or auto (default)
  --wrap-ready-timeout SEC   how long the server may take to listen (default 30)

Limits (defaults in brackets)
  --max-connections N        concurrent connections [${DEFAULT_LIMITS.maxConnections}] → 503
  --max-per-ip N             concurrent sessions per client address [no limit] → 429
  --max-per-token N          concurrent sessions per token [no limit] → 429
  --handshake-rate N         WebSocket handshakes per second per client address → 429
  --max-message-size SIZE    one WebSocket message [64M]; 0 = no limit → close 1009
  --max-head-size SIZE       request head [16K] → 431
  --max-headers N            header lines [${DEFAULT_LIMITS.maxHeaders}] → 431
  --head-timeout SEC         request head complete after first byte [${DEFAULT_LIMITS.headTimeout}] → 408

Operations (example: vncws -v --log-format json 6080 127.0.0.1:5900)
  -v, --verbose              more detail (repeat for more)
  --traffic                  print traffic symbols: { target recv, < client send,
                             } client recv, > target send
  --log-file FILE            also log to FILE
  --log-format text|json     log line format (default text)
  --syslog SERVER, --legacy-syslog
  --record FILE              record sessions to FILE.<n> (websockify format)
  --metrics [ADDR:]PORT      Prometheus /metrics, /healthz, /readyz and a status page
                             (a bare port listens on 127.0.0.1 only)
  --config FILE              read options from a TOML or JSON file (the command line wins)
  --run-once                 exit after the first WebSocket session
  --timeout SEC              stop accepting SEC seconds after start (websockify)
  --idle-timeout SEC         exit after SEC seconds without sessions
  --drain-timeout SEC        on SIGTERM, let sessions finish this long (default 10)
  -D, --daemon               run in the background; --pid-file FILE
  --libserver                accepted for websockify compatibility; no effect
  -h, --help, --version
`;
