/**
 * The validated configuration that the CLI produces and every layer reads.
 * The one place for the proxy's defaults ({@linkcode defaultConfig},
 * {@linkcode DEFAULT_LIMITS}, {@linkcode DEFAULT_WRAP}): the option table in
 * src/cli/ reads them, so `--help`, the README and the code agree.
 * @module
 */
import type { RfbPolicy } from "../rfb/policy.ts";
import type { RfbAuthScheme } from "../rfb/client_handshake.ts";
import type { HostPort, Target } from "../net/address.ts";
import type { TargetTlsConfig, TlsConfig } from "../net/tls_options.ts";

export type { HostPort, Target, TargetTlsConfig, TlsConfig };

/**
 * Viewer settings by the viewer's URL parameter names (`--viewer-defaults`,
 * `--viewer-mandatory`): strings, numbers and booleans only.
 */
export type ViewerSettings = Record<string, string | number | boolean>;

/** What happens when the wrapped command exits (websockify's `--wrap-mode`). */
export type WrapMode = "exit" | "ignore" | "respawn";

/** Wrap mode settings: `vncws PORT -- COMMAND...`. */
export interface WrapConfig {
  /** The command and its arguments. */
  command: string[];
  /** `exit` (default), `ignore` or `respawn`. */
  mode: WrapMode;
  /** Pass `-rfbport` etc. instead of LD_PRELOAD: "auto" picks by command name. */
  portArg: "preload" | "arg" | "auto";
  /** Seconds to wait for the wrapped server to listen. */
  readyTimeout: number;
}

/** Limits that keep one bad client from hurting the others. */
export interface Limits {
  /** Max request head bytes (431 beyond). */
  maxHeadBytes: number;
  /** Max header lines (431 beyond). */
  maxHeaders: number;
  /** Seconds from the first byte until the head is complete (408 beyond). */
  headTimeout: number;
  /** Max bytes in one WebSocket message, 0 = no limit (close 1009 beyond). */
  maxMessageBytes: number;
  /** Max concurrent connections (503 beyond). */
  maxConnections: number;
  /** Seconds to wait for a first byte before relaying raw TCP; 0 = never raw. */
  rawWait: number;
  /** Seconds allowed to connect to the target (502 beyond). */
  connectTimeout: number;
  /** Concurrent sessions per client address, 0 = no limit (429 beyond). */
  maxPerIp: number;
  /** Concurrent sessions per token, 0 = no limit (429 beyond). */
  maxPerToken: number;
  /** WebSocket handshakes per second per client address, 0 = no limit (429 beyond). */
  handshakeRate: number;
  /** `--max-session`: seconds a session may last, 0 = no limit (close 1008 "session time limit"). */
  maxSession: number;
  /**
   * `--token-recheck`: every N seconds each live token session's token is
   * looked up again (close 1008 when revoked or expired); 0 = off.
   */
  tokenRecheck: number;
}

/** Brute-force bans (`--ban-after`, `--ban-window`, `--ban-time`, `--ban-redis`). */
export interface BanConfig {
  /** Failures from one client address that start a ban; 0 = bans off. */
  after: number;
  /** Seconds within which those failures must fall. */
  window: number;
  /** Seconds a ban lasts. */
  time: number;
  /** `redis://` URL of a Redis shared by the fleet: failures and bans count across replicas. */
  redis?: string;
}

/** Ban defaults: off; the window and time apply once `--ban-after` is set. */
export const DEFAULT_BANS: Readonly<BanConfig> = { after: 0, window: 300, time: 300 };

/** Everything vncws needs to run. */
export interface Config {
  /** TCP listen address; hostname "" = all interfaces (dual-stack). */
  listen?: HostPort;
  /** Unix socket path to listen on instead of TCP. */
  unixListen?: string;
  /** File mode for the unix socket (default 0o600). */
  unixListenMode: number;
  /** Use an inherited listening socket on fd 0 (`--inetd`). */
  inetd: boolean;
  /** Prefer IPv6 when resolving the listen host (`-6`). */
  preferIpv6: boolean;
  /** The fixed target; absent with tokens or wrap mode (wrap fills it in at start). */
  target?: Target;
  /** Wrap mode, when a command follows `--`. */
  wrap?: WrapConfig;
  /** Built-in demo RFB server as the target (`--demo`). */
  demo: boolean;
  /** Static web root; "" = bundled viewer; null = web server off. */
  web: string | null;
  /** Directory listings (off unless `--dir-listing`; `--file-only` accepted). */
  dirListing: boolean;
  /** X-Frame-Options for web responses ("" sends none). */
  frameOptions: string;
  /** `--viewer-defaults`: viewer settings the page's URL may override (`{}` = none). */
  viewerDefaults: ViewerSettings;
  /** `--viewer-mandatory`: viewer settings that win over the page's URL (`{}` = none). */
  viewerMandatory: ViewerSettings;
  /** Serving TLS: `--cert`, `--key`, `--ssl-only`, `--verify-client`… */
  tls: TlsConfig;
  /** TLS to the target: `--ssl-target`, `--target-ca`, `--ssl-target-insecure`. */
  targetTls: TargetTlsConfig;
  /** `--token-plugin`: how a token becomes a target. */
  tokenPlugin?: string;
  /** `--token-source`: the token plugin's file, directory, URL… */
  tokenSource?: string;
  /** `--jwt-secret-encoding`: how a JWTTokenApi shared-secret file becomes the secret. */
  jwtSecretEncoding: JwtSecretEncoding;
  /** `--jwt-audience`: JWTs must carry this `aud`. */
  jwtAudience?: string;
  /** `--jwt-issuer`: JWTs must carry this `iss`. */
  jwtIssuer?: string;
  /** `--host-token`: the token comes from the Host header. */
  hostToken: boolean;
  /** `--auth-plugin`: BasicHTTPAuth, ExpectOrigin, ClientCertCNAuth. */
  authPlugin?: string;
  /** `--auth-source`: the auth plugin's argument. */
  authSource?: string;
  /** `--web-auth`: static files need auth too. */
  webAuth: boolean;
  /** `--allow-origin`: accepted Origin values (empty = any). */
  allowOrigin: string[];
  /** `--allow-ip`: only these CIDR blocks (empty = everyone). */
  allowIp: string[];
  /** `--deny-ip`: never these CIDR blocks. */
  denyIp: string[];
  /** `--trusted-proxy`: peers whose X-Forwarded-For / Forwarded name the client. */
  trustedProxies: string[];
  /** `--forwarded-header`: the header those peers write; the other is ignored. */
  forwardedHeader: "x-forwarded-for" | "forwarded";
  /** `--allow-target`: token targets must match one of these rules (empty = any not denied). */
  allowTarget: string[];
  /** `--deny-target`: token targets matching these rules are refused. */
  denyTarget: string[];
  /**
   * `--accept-proxy-protocol`: peers (CIDR blocks, `unix`) whose connections
   * begin with a PROXY v1/v2 header naming the client (load balancers).
   */
  acceptProxyProtocol: string[];
  /** `--proxy-protocol`: send a PROXY v1/v2 header to the target first. */
  proxyProtocol?: 1 | 2;
  /** Path prefix whose next segment is the token (default `/websockify/`). */
  tokenPathPrefix?: string;
  /** Per-connection and per-client limits. */
  limits: Limits;
  /** Brute-force bans. */
  bans: BanConfig;
  /**
   * The RFB policy of every session (`--view-only`, `--clipboard`,
   * `--target-password-file`); a token's own settings add to it (the
   * stricter wins). Absent = none: sessions take the plain relay.
   */
  rfbPolicy?: RfbPolicy;
  /**
   * `--rfb-auth`: the security schemes vncws may use toward the VNC server,
   * in preference order. Set: every session goes through the RFB gateway;
   * absent: only sessions whose policy holds credentials, with
   * `DEFAULT_RFB_AUTH` (src/rfb/client_handshake.ts).
   */
  rfbAuth?: RfbAuthScheme[];
  /**
   * `--state-redis`: a Redis shared by the fleet (`host[:port[:db[:password]]]`
   * or a `redis://` URL) for its live sessions and limits.
   */
  stateRedis?: string;
  /** Verbosity: 0 quiet, 1 `-v`, 2 `-vv`. */
  verbose: number;
  /** websockify's `--traffic` symbols on stdout. */
  traffic: boolean;
  /** `--log-file`: also log to this file. */
  logFile?: string;
  /** `--log-format`: one text line or one JSON object per event. */
  logFormat: "text" | "json";
  /** `--syslog`: a socket path or host:port. */
  syslog?: string;
  /** `--legacy-syslog`: BSD format instead of RFC 5424. */
  legacySyslog: boolean;
  /** `--record`: file name prefix for session recordings. */
  record?: string;
  /** `-D`: run in the background. */
  daemon: boolean;
  /** `--run-once`: exit after the first WebSocket session. */
  runOnce: boolean;
  /** websockify `--timeout`: stop listening N s after start (0 = off). */
  timeout: number;
  /** websockify `--idle-timeout`: exit after N s without sessions (0 = off). */
  idleTimeout: number;
  /** `--heartbeat N`: ping every N s (0 = off). */
  heartbeat: number;
  /** Close a session when no pong arrives within N s of a ping (0 = off). */
  pingTimeout: number;
  /** `--session-idle-timeout`: close a session with no data either way for N s. */
  sessionIdleTimeout: number;
  /** `--metrics`: where the metrics and status listener listens. */
  metrics?: HostPort;
  /** `--pid-file`: write the process id here. */
  pidFile?: string;
  /** Seconds sessions may finish after SIGTERM before they are closed. */
  drainTimeout: number;
  /**
   * `--drain-delay`: seconds vncws still accepts after SIGTERM while
   * `/readyz` already answers 503, so balancers move traffic away first.
   */
  drainDelay: number;
  /** `--workers`: relay processes sharing the listen port (1 = this process relays). */
  workers: number;
  /** Set in a relay process that a `--workers` parent started (never from an option). */
  worker?: WorkerRole;
}

/** The unix socket of the host's ban list in a `--workers` parent's directory. */
export function hostBansPath(role: Pick<WorkerRole, "dir">): string {
  return `${role.dir}/bans.sock`;
}

/** The unix socket of the host's limits (slots, handshake rates) in a `--workers` parent's directory. */
export function hostLimitsPath(role: Pick<WorkerRole, "dir">): string {
  return `${role.dir}/limits.sock`;
}

/** The unix socket a `--workers` relay process serves its metrics and sessions on. */
export function workerOpsPath(role: WorkerRole): string {
  return `${role.dir}/worker-${role.id}.sock`;
}

/**
 * What the parent sends a worker for each stage of a stop (its own SIGTERM
 * or SIGINT passed on). Workers ignore SIGTERM and SIGINT themselves:
 * systemd (KillMode=control-group) and `pkill` send those to every process
 * at once, which would count as a second signal in each worker and skip
 * its drain. Not SIGUSR1: since Deno 2.9.2 that also opens the inspector
 * (a debugger on 127.0.0.1:9229) in the process that receives it.
 */
export const WORKER_STOP_SIGNAL: Deno.Signal = "SIGUSR2";

/** Who a `--workers` relay process is: its number and its parent's private directory. */
export interface WorkerRole {
  /** 1…N; a restarted worker keeps its number. */
  id: number;
  /** The parent's private directory (0700): the worker's ops socket and the host's ban and limit sockets live here. */
  dir: string;
  /**
   * Wrap mode: the loopback port the parent moves the one wrapped server to
   * (every worker's target is `127.0.0.1` or `::1` on it).
   */
  wrapPort?: number;
}

/**
 * How a JWT shared-secret key file becomes the secret: `base64url`, as
 * websockify (jwcrypto reads the text as a JWK `k`), or `raw` bytes.
 */
export type JwtSecretEncoding = "base64url" | "raw";

/** The `--jwt-secret-encoding` choices, the default first. */
export const JWT_SECRET_ENCODINGS: readonly JwtSecretEncoding[] = ["base64url", "raw"];

/** The default path prefix whose next segment is the token: `/websockify/<token>`. */
export const DEFAULT_TOKEN_PATH_PREFIX = "/websockify/";

/** Wrap mode's defaults (the command itself has none). */
export const DEFAULT_WRAP: Readonly<Omit<WrapConfig, "command">> = {
  mode: "exit",
  portArg: "auto",
  readyTimeout: 30,
};

/** The defaults that `--help` and the README state. */
export const DEFAULT_LIMITS: Limits = {
  maxHeadBytes: 16 * 1024,
  maxHeaders: 100,
  headTimeout: 10,
  maxMessageBytes: 64 * 1024 * 1024,
  maxConnections: 1024,
  rawWait: 1,
  connectTimeout: 10,
  maxPerIp: 0,
  maxPerToken: 0,
  handshakeRate: 0,
  maxSession: 0,
  tokenRecheck: 30,
};

/** A Config with every default filled in; the CLI overwrites from argv. */
export function defaultConfig(): Config {
  return {
    unixListenMode: 0o600,
    inetd: false,
    preferIpv6: false,
    demo: false,
    web: "",
    dirListing: false,
    frameOptions: "SAMEORIGIN",
    viewerDefaults: {},
    viewerMandatory: {},
    tls: { sslOnly: false, verifyClient: false },
    targetTls: { enabled: false, insecure: false },
    jwtSecretEncoding: "base64url",
    hostToken: false,
    webAuth: false,
    allowOrigin: [],
    allowIp: [],
    denyIp: [],
    trustedProxies: [],
    acceptProxyProtocol: [],
    forwardedHeader: "x-forwarded-for",
    allowTarget: [],
    denyTarget: [],
    limits: { ...DEFAULT_LIMITS },
    bans: { ...DEFAULT_BANS },
    verbose: 0,
    traffic: false,
    logFormat: "text",
    legacySyslog: false,
    daemon: false,
    runOnce: false,
    timeout: 0,
    idleTimeout: 0,
    heartbeat: 0,
    pingTimeout: 0,
    sessionIdleTimeout: 0,
    drainTimeout: 10,
    drainDelay: 0,
    workers: 1,
  };
}
