/**
 * The proxy's option table: every option `vncws` takes, once, with its group,
 * help text, default (read from src/config/) and origin (websockify's or
 * vncws's own). The parser (cli.ts), `--help`, the `--config` keys and the
 * README's option tables all come from {@linkcode PROXY_COMMAND}.
 *
 * Over 400 lines because it is one declaration, an entry per option (80):
 * splitting it would scatter the one list a reader looks for.
 * @module
 */
import { DEFAULT_BANS, DEFAULT_LIMITS, DEFAULT_WRAP, defaultConfig } from "../config/config.ts";
import { DEFAULT_TOKEN_PATH_PREFIX, JWT_SECRET_ENCODINGS } from "../config/config.ts";
import { type CommandSpec, flag, valued } from "./table.ts";
import {
  listenAddress,
  logFormat,
  number,
  octalMode,
  oneOf,
  seconds,
  size,
  text,
  UsageError,
  type ValueType,
  wholeNumber,
} from "./values.ts";
import { parseTargetRules } from "../route/target_policy.ts";
import { ProxyHeaderPeers } from "../proxy/proxy_header.ts";
import { DEFAULT_RFB_AUTH, RFB_AUTH_SCHEMES, type RfbAuthScheme } from "../rfb/client_handshake.ts";
import { CLIPBOARD_MODES } from "../rfb/policy.ts";

/** Version printed by `--version`. */
export const VERSION = "0.1.0";

const D = defaultConfig();
const L = DEFAULT_LIMITS;
const W = "websockify";
const V = "vncws";

/** `--allow-target`/`--deny-target` rules, checked as they are read (bad ones exit 2). */
const targetRules: ValueType<string> = {
  placeholder: "SPEC",
  example: "10.20.0.0/16:5900-5999",
  parse(value, flag) {
    try {
      parseTargetRules([value], flag);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    return value;
  },
  show: (value) => value,
};

/** `--rfb-auth LIST`: comma-separated schemes, each known, none twice. */
const rfbAuthList: ValueType<RfbAuthScheme[]> = {
  placeholder: "LIST",
  example: "vencrypt,vnc",
  parse(value, flag) {
    const names = value.split(/[\s,]+/).filter((n) => n).map((n) => n.toLowerCase());
    const bad = names.find((n) => !(RFB_AUTH_SCHEMES as readonly string[]).includes(n));
    if (names.length === 0 || bad !== undefined) {
      throw new UsageError(
        `${flag} takes a list of ${
          RFB_AUTH_SCHEMES.join(", ")
        } (e.g. vencrypt,vnc), got "${value}"`,
      );
    }
    return [...new Set(names)] as RfbAuthScheme[];
  },
  show: (value) => value.join(","),
};

/** `--workers N|auto`: auto is one relay process per core. */
const workerCount: ValueType<number> = {
  placeholder: "N|auto",
  example: "2",
  parse(value, flag) {
    if (value === "auto") return Math.max(1, navigator.hardwareConcurrency || 1);
    if (!/^\d+$/.test(value) || Number(value) < 1) {
      throw new UsageError(
        `${flag} takes a number of processes (1 or more) or auto, got "${value}"`,
      );
    }
    return Number(value);
  },
  show: String,
};

/** `--accept-proxy-protocol` peers (CIDR blocks or `unix`), checked as they are read. */
const proxyPeers: ValueType<string> = {
  placeholder: "CIDR",
  example: "10.0.0.0/24",
  parse(value, flag) {
    try {
      new ProxyHeaderPeers([value]);
    } catch (e) {
      throw new UsageError(`${flag}: ${(e as Error).message}`);
    }
    return value;
  },
  show: (value) => value,
};

/** Every `vncws` option: websockify's names and meanings, then vncws's own. */
export const PROXY_COMMAND: CommandSpec = {
  name: "vncws",
  summary: `vncws ${VERSION} — WebSocket ↔ TCP proxy for VNC (websockify-compatible)`,
  usage: [
    "[options] [source_addr:]source_port target_addr:target_port",
    "[options] [source_addr:]source_port -- WRAP_COMMAND...",
    "[options] --token-plugin NAME --token-source ARG [source_addr:]source_port",
    "[options] --unix-target FILE [source_addr:]source_port",
    "--demo [source_addr:]source_port",
    "bridge [options] [listen_addr:]listen_port ws[s]://host/path",
    "replay [--port P] [--speed N] RECORDING",
  ],
  intro: [
    "'vncws bridge --help' lists the bridge's options (a local port → a remote WebSocket " +
    "console such as VMware, Proxmox or QEMU). Defaults are in brackets.",
  ],
  arguments: [
    [
      "[source_addr:]source_port",
      "where to listen; a bare port listens on all interfaces, IPv4 and IPv6 (left out with " +
      "--unix-listen, --inetd or systemd socket activation)",
    ],
    [
      "target_addr:target_port",
      "the target (not with --token-plugin, --unix-target, --demo or --)",
    ],
    [
      "-- COMMAND…",
      "wrap mode: start COMMAND and proxy to it; its bind to the listen port is moved to " +
      "loopback",
    ],
  ],
  groups: [
    {
      id: "proxy",
      title: "Proxy (example: vncws 6080 127.0.0.1:5900)",
      readme: "Proxy",
      intro: [
        "A bare port listens on all interfaces, IPv4 and IPv6. Browsers, WebSocket",
        "clients and native VNC viewers (raw TCP) share the port.",
      ],
    },
    {
      id: "web",
      title: "Web and viewer (example: vncws --web /usr/share/novnc 6080 h:5900)",
      readme: "Web and viewer",
    },
    {
      id: "tls",
      title: "TLS (example: vncws --cert server.pem --key key.pem 6443 h:5900)",
      readme: "TLS",
    },
    {
      id: "tokens",
      title:
        "Tokens and access (example: vncws --token-plugin TokenFile --token-source t.conf 6080)",
      readme: "Tokens and access",
    },
    {
      id: "rfb",
      title: "VNC server authentication (example: vncws --target-password-file pw 6080 h:5900)",
      readme: "VNC server authentication",
      intro: [
        "vncws authenticates to the VNC server itself and offers the viewer security",
        "type None: the viewer never learns the server's password.",
      ],
    },
    {
      id: "wrap",
      title: "Wrap mode (example: vncws 5901 -- Xvnc :1 -SecurityTypes None)",
      readme: "Wrap mode",
    },
    {
      id: "limits",
      title: "Limits (→ what a client over the limit gets)",
      readme: "Limits",
    },
    {
      id: "ops",
      title: "Operations (example: vncws -v --log-format json 6080 127.0.0.1:5900)",
      readme: "Operations",
    },
  ],
  options: [
    // Proxy
    flag("prefer-ipv6", "proxy", W, "prefer IPv6 when resolving source_addr", { short: "6" }),
    valued(
      "unix-listen",
      text("FILE"),
      "proxy",
      W,
      "listen on a unix socket instead of TCP (the listen argument is left out)",
    ),
    valued("unix-listen-mode", octalMode, "proxy", W, "the unix socket's file mode", {
      default: D.unixListenMode,
      needs: "unix-listen",
    }),
    valued("unix-target", text("FILE"), "proxy", W, "connect to a unix socket target"),
    flag("inetd", "proxy", W, "use the listening socket inherited on fd 0"),
    valued(
      "raw-wait",
      seconds,
      "proxy",
      V,
      "a client silent this long is relayed as raw TCP (native VNC viewers); 0 = never",
      { default: L.rawWait },
    ),
    valued("connect-timeout", seconds, "proxy", V, "target connect timeout; failure → HTTP 502", {
      default: L.connectTimeout,
    }),
    valued("heartbeat", seconds, "proxy", W, "send a WebSocket ping every SEC seconds; 0 = off", {
      default: D.heartbeat,
    }),
    valued(
      "ping-timeout",
      seconds,
      "proxy",
      V,
      "with --heartbeat: close a session whose peer stops answering pings; 0 = off",
      { default: D.pingTimeout },
    ),
    valued(
      "session-idle-timeout",
      seconds,
      "proxy",
      V,
      "close a session with no data either way for SEC seconds; 0 = off",
      { default: D.sessionIdleTimeout },
    ),
    valued(
      "proxy-protocol",
      oneOf(["v1", "v2"] as const, { aliases: { "1": "v1", "2": "v2" } }),
      "proxy",
      V,
      "send the client address to the target first (HAProxy PROXY protocol; the VNC " +
        "server must expect it)",
    ),
    flag(
      "view-only",
      "proxy",
      V,
      "every session is view-only: the viewer's keys, pointer, clipboard, desktop size and " +
        "power requests are dropped before the VNC server (the picture still updates)",
    ),
    valued(
      "clipboard",
      oneOf(CLIPBOARD_MODES),
      "proxy",
      V,
      "which way clipboard text may go: to-client (server → viewer), to-server, none or " +
        "both (as without the option); vncws drops the cut-text messages the policy forbids",
    ),
    // Web and viewer
    valued(
      "web",
      text("DIR|none", "none"),
      "web",
      W,
      "serve DIR on the same port (GET/HEAD; `..` never escapes it); none turns the web " +
        "server off (405)",
      { defaultText: "the bundled viewer at /vnc.html" },
    ),
    flag("dir-listing", "web", V, "list directories that have no index.html (off by default)"),
    flag("file-only", "web", W, "websockify's switch to turn listings off; they are off anyway"),
    valued(
      "frame-options",
      oneOf(["SAMEORIGIN", "DENY", "none"] as const, { ignoreCase: true }),
      "web",
      V,
      "X-Frame-Options of web responses; none lets other sites embed the viewer",
      { default: D.frameOptions as "SAMEORIGIN" },
    ),
    valued(
      "viewer-defaults",
      text("FILE"),
      "web",
      V,
      "the viewer's default settings: a JSON object of its URL parameters (as noVNC's " +
        'defaults.json, e.g. {"resize": "scale"}); the page\'s URL may override them',
    ),
    valued(
      "viewer-mandatory",
      text("FILE"),
      "web",
      V,
      "viewer settings the page's URL cannot override (as noVNC's mandatory.json)",
    ),
    flag("demo", "web", V, "target a built-in demo desktop, an RFB 3.8 server (vncws --demo 6080)"),
    // TLS
    valued(
      "cert",
      text("FILE"),
      "tls",
      W,
      "serve wss:// and https:// (plain clients still work); repeat for SNI, the first is the default",
      { repeatable: true },
    ),
    valued(
      "key",
      text("FILE"),
      "tls",
      W,
      "the private key of --cert (default: in the cert file); one per --cert",
      { repeatable: true, needs: "cert" },
    ),
    valued(
      "cert-dir",
      text("DIR"),
      "tls",
      V,
      "more certificates for SNI: NAME.pem + NAME.key, certbot's live/ (see TLS)",
    ),
    valued("key-password", text("PW"), "tls", W, "password of an encrypted key"),
    flag(
      "ssl-only",
      "tls",
      W,
      "refuse plain connections (TLS then runs on the native socket: faster)",
      { needs: ["cert", "cert-dir"] },
    ),
    valued(
      "ssl-version",
      text("V", "tlsv1_2"),
      "tls",
      W,
      "minimum version: default, tlsv1_1, tlsv1_2, tlsv1_3",
    ),
    valued("ssl-ciphers", text("LIST"), "tls", W, "OpenSSL cipher list (TLS 1.2 suites)"),
    flag("verify-client", "tls", W, "require a client certificate signed by --cafile (mTLS)", {
      needs: ["cert", "cert-dir"],
    }),
    valued("cafile", text("FILE"), "tls", W, "CA bundle for --verify-client"),
    flag("ssl-target", "tls", W, "TLS to the target, verified"),
    // No `needs`: a VeNCrypt X509 server is verified with it too (a token's credentials need no option).
    valued(
      "target-ca",
      text("FILE"),
      "tls",
      V,
      "extra CA for --ssl-target and for VeNCrypt X509 VNC servers",
    ),
    valued(
      "target-cert",
      text("FILE"),
      "tls",
      V,
      "client certificate (PEM) for VeNCrypt X509 VNC servers that ask for one",
    ),
    valued("target-key", text("FILE"), "tls", V, "its key (default: inside --target-cert)", {
      needs: "target-cert",
    }),
    flag("ssl-target-insecure", "tls", V, "do not verify the target's certificate", {
      needs: "ssl-target",
    }),
    // VNC server authentication
    valued(
      "target-password-file",
      text("FILE"),
      "rfb",
      V,
      "the fixed target's VNC password (first line of FILE): vncws answers the server's " +
        "VncAuth or VeNCrypt with it and the viewer gets security type None",
    ),
    valued(
      "target-username",
      text("NAME"),
      "rfb",
      V,
      "user name for VeNCrypt Plain, X509Plain",
      { needs: "target-password-file" },
    ),
    valued(
      "rfb-auth",
      rfbAuthList,
      "rfb",
      V,
      "security schemes vncws may use toward the server, in order (vencrypt, vnc, none); " +
        "set: every session goes through vncws's authentication (default with a password: " +
        DEFAULT_RFB_AUTH.join(",") + ")",
    ),
    // Tokens and access
    valued(
      "token-plugin",
      text("NAME", "TokenFile"),
      "tokens",
      W,
      "route by token: TokenFile, ReadOnlyTokenFile, TokenFileName, BaseTokenAPI, " +
        "JSONTokenApi, JWTTokenApi, TokenRedis, UnixDomainSocketDirectory, or a module path",
    ),
    valued(
      "token-source",
      text("ARG"),
      "tokens",
      W,
      "the token plugin's source (file, directory, URL, key, redis)",
      { needs: "token-plugin" },
    ),
    valued(
      "target-config",
      text("FILE"),
      "tokens",
      W,
      "deprecated: --token-plugin TokenFile --token-source FILE",
    ),
    flag("host-token", "tokens", W, "take the token from the Host header", {
      needs: "token-plugin",
    }),
    valued(
      "token-path-prefix",
      text("P", "/vnc/"),
      "tokens",
      V,
      "path prefix whose next segment is the token",
      { default: DEFAULT_TOKEN_PATH_PREFIX },
    ),
    valued(
      "jwt-secret-encoding",
      oneOf(JWT_SECRET_ENCODINGS, { placeholder: "ENC" }),
      "tokens",
      V,
      "JWTTokenApi shared-secret key file: base64url text of the secret, as websockify reads " +
        "it, or raw (the file's bytes as they are)",
      { default: D.jwtSecretEncoding, needs: "token-plugin" },
    ),
    valued(
      "jwt-audience",
      text("AUD"),
      "tokens",
      V,
      "JWTTokenApi: refuse tokens whose aud claim does not name AUD",
      { needs: "token-plugin" },
    ),
    valued(
      "jwt-issuer",
      text("ISS"),
      "tokens",
      V,
      "JWTTokenApi: refuse tokens whose iss claim is not ISS",
      { needs: "token-plugin" },
    ),
    valued(
      "auth-plugin",
      text("NAME", "ExpectOrigin"),
      "tokens",
      W,
      "BasicHTTPAuth, ExpectOrigin or ClientCertCNAuth",
    ),
    valued("auth-source", text("ARG"), "tokens", W, "the auth plugin's source", {
      needs: "auth-plugin",
    }),
    flag("web-auth", "tokens", W, "also require auth for static files", {
      needs: "auth-plugin",
    }),
    valued(
      "allow-origin",
      text("LIST", "https://a.example"),
      "tokens",
      V,
      "accept only these Origin values (repeatable or comma-separated)",
      { repeatable: true },
    ),
    valued(
      "allow-ip",
      text("CIDR", "10.0.0.0/8"),
      "tokens",
      V,
      "accept only clients in these blocks (repeatable or comma-separated)",
      { repeatable: true },
    ),
    valued(
      "deny-ip",
      text("CIDR", "10.0.0.0/8"),
      "tokens",
      V,
      "refuse clients in these blocks (repeatable or comma-separated)",
      { repeatable: true },
    ),
    valued(
      "allow-target",
      targetRules,
      "tokens",
      V,
      "token targets may only be these: CIDR[:PORT|:LOW-HIGH], a host name (or wildcard " +
        "domain) or a unix: path glob (repeatable or comma-separated)",
      { repeatable: true },
    ),
    valued(
      "deny-target",
      targetRules,
      "tokens",
      V,
      "token targets may never be these (same forms; wins over --allow-target)",
      { repeatable: true },
    ),
    valued(
      "trusted-proxy",
      text("CIDR", "10.0.0.0/8"),
      "tokens",
      V,
      "peers whose X-Forwarded-For (or Forwarded) names the client (repeatable)",
      { repeatable: true },
    ),
    valued(
      "forwarded-header",
      oneOf(["x-forwarded-for", "forwarded"] as const, { placeholder: "H" }),
      "tokens",
      V,
      "the one header --trusted-proxy peers write (with X-Forwarded-Host/-Proto, or RFC 7239 " +
        "Forwarded for=/host=/proto=); the other is ignored",
      { default: D.forwardedHeader, needs: "trusted-proxy" },
    ),
    valued(
      "accept-proxy-protocol",
      proxyPeers,
      "tokens",
      V,
      "peers (load balancers; unix for --unix-listen) whose connections begin with a PROXY " +
        "v1/v2 header naming the client; others may not send one (repeatable or comma-separated)",
      { repeatable: true },
    ),
    // Wrap mode
    valued(
      "wrap-mode",
      oneOf(["exit", "ignore", "respawn"] as const, { placeholder: "MODE" }),
      "wrap",
      W,
      "when the wrapped command exits: exit with its code, ignore, or respawn (throttled)",
      { default: DEFAULT_WRAP.mode },
    ),
    valued(
      "wrap-port-arg",
      oneOf(["preload", "arg", "auto"] as const, { placeholder: "MODE" }),
      "wrap",
      V,
      "move the server's port by LD_PRELOAD shim (preload), -rfbport (arg), or pick by " +
        "command name (auto)",
      { default: DEFAULT_WRAP.portArg },
    ),
    valued(
      "wrap-ready-timeout",
      seconds,
      "wrap",
      V,
      "how long the wrapped server may take to listen",
      { default: DEFAULT_WRAP.readyTimeout },
    ),
    // Limits
    valued("max-connections", wholeNumber, "limits", V, "concurrent connections → 503", {
      default: L.maxConnections,
    }),
    valued(
      "max-per-ip",
      wholeNumber,
      "limits",
      V,
      "concurrent sessions per client address; 0 = no limit → 429",
      { default: L.maxPerIp },
    ),
    valued(
      "max-per-token",
      wholeNumber,
      "limits",
      V,
      "concurrent sessions per token; 0 = no limit → 429",
      { default: L.maxPerToken },
    ),
    valued(
      "handshake-rate",
      number,
      "limits",
      V,
      "WebSocket handshakes per second per client address; 0 = no limit → 429",
      { default: L.handshakeRate },
    ),
    valued(
      "max-session",
      seconds,
      "limits",
      V,
      'end a session after SEC seconds (close 1008 "session time limit"); 0 = no limit',
      { default: L.maxSession },
    ),
    valued(
      "token-recheck",
      seconds,
      "limits",
      V,
      "with a token plugin: look each live session's token up again every SEC seconds; a " +
        "revoked or expired token ends its session (close 1008); 0 = off",
      { default: L.tokenRecheck },
    ),
    valued(
      "ban-after",
      wholeNumber,
      "limits",
      V,
      "ban a client address after N failed attempts (bad token, password, Origin, handshake) " +
        "within --ban-window; 0 = off (5 is a good value) → 429",
      { default: DEFAULT_BANS.after },
    ),
    valued("ban-window", seconds, "limits", V, "the window --ban-after counts failures in", {
      default: DEFAULT_BANS.window,
      needs: "ban-after",
    }),
    valued("ban-time", seconds, "limits", V, "how long a ban lasts", {
      default: DEFAULT_BANS.time,
      needs: "ban-after",
    }),
    valued(
      "ban-redis",
      text("URL", "redis://10.0.0.5:6379"),
      "limits",
      V,
      "share failures and bans with every replica using this Redis",
      { needs: "ban-after" },
    ),
    valued(
      "state-redis",
      text("REDIS", "10.0.0.5:6379"),
      "limits",
      V,
      "share live sessions and --max-per-ip/--max-per-token counts with every replica using " +
        "this Redis (host[:port[:db[:password]]] or redis://)",
    ),
    valued(
      "max-message-size",
      size,
      "limits",
      V,
      "one WebSocket message; 0 = no limit → close 1009",
      { default: L.maxMessageBytes },
    ),
    valued("max-head-size", size, "limits", V, "request head → 431", {
      default: L.maxHeadBytes,
    }),
    valued("max-headers", wholeNumber, "limits", V, "header lines → 431", {
      default: L.maxHeaders,
    }),
    valued(
      "head-timeout",
      seconds,
      "limits",
      V,
      "request head complete after its first byte → 408",
      { default: L.headTimeout },
    ),
    // Operations
    flag("verbose", "ops", W, "more detail (repeat for more)", { short: "v", repeatable: true }),
    flag(
      "traffic",
      "ops",
      W,
      "traffic symbols on stdout: { target recv, < client send, } client recv, > target send",
    ),
    valued("log-file", text("FILE"), "ops", W, "also log to FILE (SIGHUP reopens it)"),
    valued("log-format", logFormat, "ops", V, "log line format", { default: D.logFormat }),
    valued(
      "syslog",
      text("SERVER", "/dev/log"),
      "ops",
      W,
      "send logs to syslog (/dev/log or host:514, RFC 5424)",
    ),
    flag("legacy-syslog", "ops", W, "BSD syslog format instead of RFC 5424", {
      needs: "syslog",
    }),
    valued(
      "record",
      text("FILE"),
      "ops",
      W,
      "record sessions to FILE.<n> (websockify's format; .vncrec: vncws's compact one)",
    ),
    valued(
      "metrics",
      listenAddress,
      "ops",
      V,
      "Prometheus /metrics, /healthz, /readyz and a status page (a bare port listens on " +
        "127.0.0.1 only)",
    ),
    valued(
      "config",
      text("FILE"),
      "ops",
      V,
      "read options from a TOML or JSON file; every long option is a key; the command line wins",
      { configKey: null },
    ),
    flag("run-once", "ops", W, "exit after the first WebSocket session"),
    valued(
      "timeout",
      seconds,
      "ops",
      W,
      "stop accepting SEC seconds after start; running sessions go on; 0 = never",
      { default: D.timeout },
    ),
    valued(
      "idle-timeout",
      seconds,
      "ops",
      W,
      "exit after SEC seconds without sessions; 0 = never",
      {
        default: D.idleTimeout,
      },
    ),
    valued(
      "drain-timeout",
      seconds,
      "ops",
      V,
      "on SIGTERM/SIGINT, let sessions finish this long, then close them with 1001",
      { default: D.drainTimeout },
    ),
    valued(
      "drain-delay",
      seconds,
      "ops",
      V,
      "on SIGTERM/SIGINT, /readyz turns 503 at once but new sessions are taken SEC more seconds",
      { default: D.drainDelay },
    ),
    valued(
      "workers",
      workerCount,
      "ops",
      V,
      "relay processes sharing the listen port (Linux SO_REUSEPORT), under one parent; auto = " +
        "one per core; how limits count: see Every core of one host",
      { default: D.workers },
    ),
    flag("daemon", "ops", W, "run in the background", { short: "D" }),
    valued("pid-file", text("FILE"), "ops", V, "write the process id to FILE"),
    flag("libserver", "ops", W, "accepted for websockify compatibility; no effect"),
    flag("help", "ops", W, "this help", { short: "h", configKey: null }),
    flag("version", "ops", V, "print the version", { configKey: null }),
  ],
  footer: ["Exit codes: 0 ok, 1 runtime failure, 2 usage error."],
};
