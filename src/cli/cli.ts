/**
 * `vncws` command line → validated {@linkcode Config}. Accepts every
 * websockify command line (its 38 options, interspersed options, `--` for
 * wrap mode) plus vncws's own options, all declared once in
 * {@linkcode PROXY_COMMAND}. Mistakes raise {@linkcode UsageError} with what
 * is wrong and how to fix it.
 * @module
 */
import {
  type Config,
  defaultConfig,
  type JwtSecretEncoding,
  type ViewerSettings,
  type WrapMode,
} from "../config/config.ts";
import { readViewerSettings } from "../web/viewer_settings.ts";
import { type HostPort, parseHostPort, parseListen } from "../net/address.ts";
import { redisEndpoint } from "../net/redis.ts";
import type { ClipboardMode } from "../rfb/policy.ts";
import { checkNeeds, parseOptions, renderHelp } from "./table.ts";
import { PROXY_COMMAND, VERSION } from "./proxy_options.ts";
import { UsageError } from "./values.ts";
import type { RfbAuthScheme } from "../rfb/client_handshake.ts";

export { PROXY_COMMAND, UsageError, VERSION };

/** The parsed command line: run the proxy, or print something and exit. */
export type Command =
  | { kind: "run"; config: Config; warnings: string[] }
  | { kind: "help" }
  | { kind: "version" };

/** `vncws --help`, generated from {@linkcode PROXY_COMMAND}. */
export const HELP: string = renderHelp(PROXY_COMMAND);

/**
 * `--workers N` (N > 1) with what cannot share the listen port among N
 * processes: each refusal says what to do instead.
 */
function checkWorkers(c: Config, activated: boolean): void {
  const not = (what: string, why: string) => {
    throw new UsageError(`--workers cannot be used with ${what}: ${why}`);
  };
  if (Deno.build.os !== "linux") {
    not(
      `this system (${Deno.build.os})`,
      "only Linux spreads connections among processes sharing a port (SO_REUSEPORT)",
    );
  }
  if (c.runOnce) not("--run-once", "one session cannot be served by several processes");
  if (c.unixListen !== undefined) {
    not("--unix-listen", "unix sockets cannot be shared with SO_REUSEPORT; listen on TCP");
  }
  if (activated) {
    not(
      "systemd socket activation",
      "the inherited socket is for this process only (LISTEN_PID); use a plain TCP port, " +
        "or run one vncws per socket unit",
    );
  }
}

/** A `--viewer-*` file's settings (`{}` when not given); a bad file is a usage error. */
function viewerSettings(path: string | undefined, option: string): ViewerSettings {
  if (path === undefined) return {};
  try {
    return readViewerSettings(path, option);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Options for {@linkcode parseCommandLine}. */
export interface ParseOptions {
  /** Where sessions go is decided elsewhere (the library's `route` hook): no target needed. */
  routed?: boolean;
}

/**
 * `--rfb-auth`, `--target-password-file`, `--target-username` into the
 * config: the password becomes the credentials of every session's policy
 * (created with the defaults when no other option made one).
 */
function rfbAuthOptions(
  c: Config,
  schemes: RfbAuthScheme[] | undefined,
  passwordFile: string | undefined,
  username: string | undefined,
): void {
  c.rfbAuth = schemes;
  if (passwordFile === undefined) return;
  if (c.tokenPlugin) {
    throw new UsageError(
      "--target-password-file is the fixed target's password; with --token-plugin each " +
        "target's password comes from its token backend",
    );
  }
  let text: string;
  try {
    text = Deno.readTextFileSync(passwordFile);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (e as Error).message;
    throw new UsageError(
      `--target-password-file ${passwordFile}: cannot read it (${why}); give a file whose ` +
        "first line is the VNC server's password",
    );
  }
  const password = text.split(/\r?\n/)[0];
  if (password === "") {
    throw new UsageError(
      `--target-password-file ${passwordFile}: its first line is empty; put the VNC server's ` +
        "password there",
    );
  }
  c.rfbPolicy = {
    viewOnly: false,
    clipboard: "both",
    ...c.rfbPolicy,
    credentials: { password, username },
  };
}

/** Parses argv (without the program name) into a {@linkcode Command}. Throws {@linkcode UsageError}. */
export function parseCommandLine(argv: string[], options: ParseOptions = {}): Command {
  const dd = argv.indexOf("--");
  const ours = dd < 0 ? argv : argv.slice(0, dd);
  const wrapCommand = dd < 0 ? undefined : argv.slice(dd + 1);
  const o = parseOptions(PROXY_COMMAND, ours);
  if (o.given("help")) return { kind: "help" };
  if (o.given("version")) return { kind: "version" };
  // Cross-option rules websockify enforces, with its wording made actionable.
  checkNeeds(PROXY_COMMAND, o);

  const str = (k: string) => o.get<string>(k);
  const bool = (k: string) => o.given(k);
  const num = (k: string) => o.get<number>(k)!;
  const list = (k: string) => o.all<string>(k).flatMap((s) => s.split(/[\s,]+/)).filter((s) => s);
  const c = defaultConfig();
  const warnings: string[] = [];

  c.verbose = o.count("verbose");
  c.traffic = bool("traffic");
  c.record = str("record");
  c.daemon = bool("daemon");
  c.pidFile = str("pid-file");
  const metrics = o.get<HostPort>("metrics");
  // A bare port serves metrics on loopback only: the status page shows client addresses.
  if (metrics) c.metrics = { hostname: metrics.hostname || "127.0.0.1", port: metrics.port };
  c.runOnce = bool("run-once");
  c.timeout = num("timeout");
  c.idleTimeout = num("idle-timeout");
  c.heartbeat = num("heartbeat");
  c.pingTimeout = num("ping-timeout");
  c.sessionIdleTimeout = num("session-idle-timeout");
  c.drainTimeout = num("drain-timeout");
  c.drainDelay = num("drain-delay");
  c.workers = num("workers");
  c.logFile = str("log-file");
  c.logFormat = o.get<"text" | "json">("log-format")!;
  c.syslog = str("syslog");
  c.legacySyslog = bool("legacy-syslog");
  c.preferIpv6 = bool("prefer-ipv6");
  c.inetd = bool("inetd");
  c.unixListen = str("unix-listen");
  c.unixListenMode = num("unix-listen-mode");
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
  const fo = str("frame-options")!;
  c.frameOptions = fo === "none" ? "" : fo;
  c.viewerDefaults = viewerSettings(str("viewer-defaults"), "--viewer-defaults");
  c.viewerMandatory = viewerSettings(str("viewer-mandatory"), "--viewer-mandatory");
  c.demo = bool("demo");
  const certs = o.all<string>("cert");
  const keys = o.all<string>("key");
  if (keys.length > 0 && keys.length !== certs.length) {
    throw new UsageError(
      `${keys.length} --key for ${certs.length} --cert: give one --key per --cert, in the same ` +
        `order, or none (each key inside its cert file)`,
    );
  }
  c.tls = {
    cert: certs[0],
    key: keys[0],
    extraCerts: certs.slice(1).map((cert, i) => ({ cert, key: keys[i + 1] })),
    certDir: str("cert-dir"),
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
    cert: str("target-cert"),
    key: str("target-key"),
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
  c.jwtSecretEncoding = o.get<JwtSecretEncoding>("jwt-secret-encoding")!;
  c.jwtAudience = str("jwt-audience");
  c.jwtIssuer = str("jwt-issuer");
  const jwtGiven = ["jwt-secret-encoding", "jwt-audience", "jwt-issuer"].find((k) => o.given(k));
  if (jwtGiven && c.tokenPlugin?.replace("websockify.token_plugins.", "") !== "JWTTokenApi") {
    throw new UsageError(`--${jwtGiven} applies to --token-plugin JWTTokenApi only`);
  }
  c.hostToken = bool("host-token");
  const passwordFile = str("target-password-file");
  rfbAuthOptions(c, o.get<RfbAuthScheme[]>("rfb-auth"), passwordFile, str("target-username"));
  c.authPlugin = str("auth-plugin");
  c.authSource = str("auth-source");
  c.webAuth = bool("web-auth");
  c.allowOrigin = list("allow-origin");
  c.allowIp = list("allow-ip");
  c.denyIp = list("deny-ip");
  c.trustedProxies = list("trusted-proxy");
  c.forwardedHeader = o.get<"x-forwarded-for" | "forwarded">("forwarded-header")!;
  c.acceptProxyProtocol = list("accept-proxy-protocol");
  c.allowTarget = list("allow-target");
  c.denyTarget = list("deny-target");
  if ((c.allowTarget.length > 0 || c.denyTarget.length > 0) && !c.tokenPlugin) {
    // The fixed target is the operator's own choice; the rules guard what token backends return.
    warnings.push(
      "--allow-target and --deny-target check the targets of a token plugin only; " +
        "the fixed target is not checked",
    );
  }
  // Given or not: the default prefix is the router's, and absent means "the default".
  c.tokenPathPrefix = o.given("token-path-prefix") ? str("token-path-prefix") : undefined;
  const pp = o.get<"v1" | "v2">("proxy-protocol");
  if (pp !== undefined) c.proxyProtocol = pp === "v1" ? 1 : 2;
  if (c.tokenPathPrefix !== undefined && !/^\/(.*\/)?$/.test(c.tokenPathPrefix)) {
    throw new UsageError(
      `--token-path-prefix must start and end with "/", e.g. /websockify/, got "${c.tokenPathPrefix}"`,
    );
  }
  const viewerGiven = ["viewer-defaults", "viewer-mandatory"].find((k) => o.given(k));
  if (viewerGiven && c.web === null) {
    throw new UsageError(`--${viewerGiven} needs the web server (drop --web none)`);
  }
  if (c.webAuth && c.web === null) {
    throw new UsageError("--web-auth needs the web server (drop --web none)");
  }
  if (bool("libserver")) {
    warnings.push("--libserver has no effect: vncws has a single server implementation");
  }

  c.limits = {
    maxHeadBytes: num("max-head-size"),
    maxHeaders: num("max-headers"),
    headTimeout: num("head-timeout"),
    maxMessageBytes: num("max-message-size"),
    maxConnections: num("max-connections"),
    rawWait: num("raw-wait"),
    connectTimeout: num("connect-timeout"),
    maxPerIp: num("max-per-ip"),
    maxPerToken: num("max-per-token"),
    handshakeRate: num("handshake-rate"),
    maxSession: num("max-session"),
    tokenRecheck: num("token-recheck"),
  };
  c.bans = {
    after: num("ban-after"),
    window: num("ban-window"),
    time: num("ban-time"),
    redis: str("ban-redis"),
  };
  if (bool("view-only") || o.given("clipboard")) {
    // Created when absent: --target-password-file adds credentials to the same object.
    c.rfbPolicy ??= { viewOnly: false, clipboard: "both" };
    c.rfbPolicy.viewOnly ||= bool("view-only");
    c.rfbPolicy.clipboard = o.get<ClipboardMode>("clipboard") ?? c.rfbPolicy.clipboard;
  }
  c.stateRedis = str("state-redis");
  if (c.stateRedis !== undefined) {
    try {
      redisEndpoint(c.stateRedis, "--state-redis");
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  if (c.bans.after > 0 && (c.bans.window === 0 || c.bans.time === 0)) {
    throw new UsageError("--ban-window and --ban-time must be more than 0 with --ban-after");
  }
  if (c.limits.headTimeout === 0) throw new UsageError("--head-timeout must be more than 0");
  if (c.limits.maxConnections === 0) throw new UsageError("--max-connections must be at least 1");

  const wrapMode = o.get<WrapMode>("wrap-mode")!;
  const portArg = o.get<"preload" | "arg" | "auto">("wrap-port-arg")!;
  const readyTimeout = num("wrap-ready-timeout");

  // Positionals: [source_addr:]source_port [target_addr:target_port]
  const pos = [...o.positionals];
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
    c.wrap = { command: wrapCommand, mode: wrapMode, portArg, readyTimeout };
  } else if (o.given("wrap-mode")) {
    throw new UsageError("--wrap-mode needs a command to wrap after '--'");
  }

  const routed = [
    c.tokenPlugin && "--token-plugin",
    unixTarget && "--unix-target",
    c.demo && "--demo",
  ].filter(Boolean);
  if (c.workers > 1) checkWorkers(c, activated);
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
  } else if (!c.tokenPlugin && !c.wrap && !c.demo && !options.routed) {
    throw new UsageError(
      "missing the target: give host:port (e.g. 'vncws 6080 127.0.0.1:5900'), " +
        "--unix-target FILE, --token-plugin NAME, --demo, or '-- COMMAND' to wrap a VNC server",
    );
  }
  return { kind: "run", config: c, warnings };
}
