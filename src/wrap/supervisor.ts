/**
 * Wrap mode: starts the wrapped VNC server, moves it off the listen port,
 * tells when it is ready, and supervises it (websockify's `--wrap-mode`).
 *
 * - The child runs in its own session and process group (`detached`), with
 *   `LD_PRELOAD` = our rebind shim first (existing entries kept),
 *   `REBIND_OLD_PORT` = the listen port and `REBIND_NEW_PORT` = a loopback
 *   port free at spawn time (websockify's names). With `--wrap-port-arg`
 *   a recognised server gets `-rfbport NEW` and loopback-only options
 *   instead (see servers.ts); `auto` does that for x11vnc, whose port does
 *   not follow from a display number, and when no shim can be had.
 * - Ready = something listens on the new port (read from /proc/net/tcp{,6};
 *   we never connect, so a server that serves one client, like x11vnc
 *   without `-forever`, is not used up by the check).
 * - The supervised unit is the child plus every process the shim reported
 *   for a moved bind. A daemonizing wrapper (vncserver, tightvncserver)
 *   exits 0 after forking Xvnc; the unit lives on while the reported server
 *   does, so `exit` mode does not quit then. When the unit ends: `exit`
 *   resolves `done` with the child's exit code (128+N when killed by signal
 *   N; for a daemonized server whose status we cannot see, the wrapper's
 *   code), `ignore` keeps going, `respawn` starts the command again when the
 *   mean of the last three start times is at least 10 s ago (websockify's
 *   throttle), logging each restart.
 * - stop() sends SIGTERM to the child's process group and to every reported
 *   server and its group (never to vncws's own group), then SIGKILL after a
 *   grace period, and waits for them. If vncws is killed outright, the shim's
 *   watcher ends the server (see rebind.c). Signals are not forwarded one by
 *   one: SIGINT/SIGTERM to vncws mean stop(); SIGHUP reopens vncws's log and is
 *   not passed on (VNC servers treat SIGHUP as "reset", dropping every client).
 * - In a container where vncws is PID 1, run it under an init (`docker run
 *   --init`, tini) so that the orphaned processes of a daemonizing wrapper
 *   are reaped.
 * @module
 */
import type { WrapConfig } from "../config/config.ts";
import type { Target } from "../net/address.ts";
import { logDebug, logInfo, logWarn } from "../base/log.ts";
import { freeLoopbackPort } from "./free_port.ts";
import {
  groupMembers,
  isAlive,
  processGroup,
  type ProcessId,
  processStart,
  socketOwners,
} from "./proc.ts";
import { tcpListeners } from "../base/procfs.ts";
import { expectedPort } from "./servers.ts";
import { ERRNO, makePlan, notReadyText, type Plan, ShimReport } from "./plan.ts";
import { sleep } from "../base/time.ts";
import { RespawnThrottle } from "../base/respawn.ts";

/** Options for {@linkcode startWrap}. */
export interface WrapOptions {
  /** The port vncws listens on: binds of it are moved (REBIND_OLD_PORT). */
  listenPort: number;
  /**
   * The loopback port to move the server to (`--workers`: chosen before the
   * workers start, which are told it); default a port free now.
   */
  port?: number;
  /** Extra environment variables for the command (added to vncws's own). */
  env?: Record<string, string>;
  /** Where the child's stdout/stderr go (default "inherit", as websockify). */
  output?: "inherit" | "null";
  /** Seconds between SIGTERM and SIGKILL in stop() (default 5). */
  graceSeconds?: number;
  /** Minimum seconds since the mean of the last three starts before a respawn (default 10). */
  respawnThrottleSeconds?: number;
}

/** A running wrapped server. */
export interface WrapHandle {
  /**
   * Where to connect: the loopback address the server listens on, with the
   * other family as `alternates` (read it after `ready`; it follows a
   * respawned server that binds another family).
   */
  readonly target: Target;
  /** Both loopback families on the new port, the one the server listens on first. */
  readonly targets: Target[];
  /** The loopback port the server was moved to. */
  readonly port: number;
  /** Resolves when the server listens on `port`; rejects with an explanation otherwise. */
  ready: Promise<void>;
  /** `exit` mode: resolves with the exit code vncws should exit with. Never in ignore/respawn. */
  done: Promise<number>;
  /** Ends the whole wrapped tree (SIGTERM, then SIGKILL after the grace period). */
  stop(): Promise<void>;
  /** How many times `respawn` mode restarted the command. */
  readonly restarts: number;
  /** PID of the current direct child (undefined before the first start). */
  readonly childPid: number | undefined;
  /** Live processes that bound the port, as reported by the shim or found through /proc. */
  readonly serverPids: number[];
}

const POLL_MS = 250;

class Supervisor implements WrapHandle {
  readonly port: number;
  ready: Promise<void>;
  done: Promise<number>;
  restarts = 0;

  #wrap: WrapConfig;
  #options: WrapOptions;
  #dir: string;
  #plan: Plan;
  #readyD = Promise.withResolvers<void>();
  #doneD = Promise.withResolvers<number>();
  #isReady = false;
  #family: 4 | 6 = 4;
  #child?: Deno.ChildProcess;
  #childExit?: number;
  #childStatus?: Promise<unknown>;
  #children: Deno.ChildProcess[] = [];
  /** Servers of the current start, by PID. */
  #servers = new Map<number, ProcessId>();
  /** Every server ever seen, for stop(). */
  #allServers: ProcessId[] = [];
  #report: ShimReport;
  #bindError?: string;
  #starts: RespawnThrottle;
  #exited = false;
  #announcedDaemon = false;
  #warnedTooFast = false;
  #stopping = false;
  #timer?: ReturnType<typeof setTimeout>;
  #readyTimer?: ReturnType<typeof setTimeout>;

  constructor(wrap: WrapConfig, options: WrapOptions, dir: string, port: number, plan: Plan) {
    this.#wrap = wrap;
    this.#options = options;
    this.#dir = dir;
    this.port = port;
    this.#plan = plan;
    this.#report = new ShimReport(`${dir}/report`);
    this.#starts = new RespawnThrottle(options.respawnThrottleSeconds ?? 10);
    this.ready = this.#readyD.promise;
    this.done = this.#doneD.promise;
    // Nobody may be listening to `ready` when it fails after stop(); keep that quiet.
    this.ready.catch(() => {});
  }

  get target(): Target {
    const [first, second] = this.targets as Array<Target & { kind: "tcp" }>;
    return { ...first, alternates: [second.hostname] };
  }

  get targets(): Target[] {
    const v4: Target = { kind: "tcp", hostname: "127.0.0.1", port: this.port };
    const v6: Target = { kind: "tcp", hostname: "::1", port: this.port };
    return this.#family === 6 ? [v6, v4] : [v4, v6];
  }

  get childPid(): number | undefined {
    return this.#child?.pid;
  }

  get serverPids(): number[] {
    return [...this.#servers.values()].filter(isAlive).map((s) => s.pid);
  }

  start(): void {
    this.#spawn();
    this.#readyTimer = setTimeout(() => {
      if (!this.#isReady) this.#readyD.reject(new Error(this.#notReadyText("timeout")));
    }, this.#wrap.readyTimeout * 1000);
    this.#schedule();
  }

  #spawn(): void {
    this.#servers.clear();
    this.#childExit = undefined;
    this.#exited = false;
    this.#announcedDaemon = false;
    this.#warnedTooFast = false;
    this.#starts.started();
    const [cmd, ...args] = this.#plan.argv;
    const output = this.#options.output ?? "inherit";
    const child = new Deno.Command(cmd, {
      args,
      env: { ...this.#options.env, ...this.#plan.env },
      detached: true,
      stdin: "null",
      stdout: output,
      stderr: output,
    }).spawn();
    this.#child = child;
    this.#children.push(child);
    this.#childStatus = child.status.then((s) => {
      if (this.#child === child) this.#childExit = s.code;
    });
    logInfo("wrap: started command", {
      pid: child.pid,
      command: this.#plan.argv.join(" "),
      port: this.port,
      via: this.#plan.preload ? "LD_PRELOAD" : "arguments",
    });
  }

  #schedule(): void {
    if (this.#stopping) return;
    this.#timer = setTimeout(() => {
      this.#tick();
      this.#schedule();
    }, POLL_MS);
  }

  #readReport(): void {
    for (const r of this.#report.read()) {
      if (r.errno === undefined) {
        this.#addServer(r.pid);
        continue;
      }
      this.#bindError = `process ${r.pid} failed to bind the moved port ${this.port} ` +
        `(IPv${r.family}): errno ${r.errno}${ERRNO[r.errno] ? ` (${ERRNO[r.errno]})` : ""}`;
      // Not a warning: wrappers such as tigervncserver probe the port this way.
      logDebug(`wrap: ${this.#bindError}`);
    }
  }

  #addServer(pid: number): void {
    const start = processStart(pid);
    if (start === undefined || this.#servers.get(pid)?.start === start) return;
    const id = { pid, start };
    this.#servers.set(pid, id);
    this.#allServers.push(id);
    logDebug("wrap: server process bound the port", { pid });
  }

  #tick(): void {
    if (this.#exited && this.#wrap.mode !== "respawn") return;
    this.#readReport();
    const listeners = tcpListeners(this.port);
    if (listeners.length > 0) {
      this.#family = listeners.some((l) => l.family === 4) ? 4 : 6;
      if (this.#servers.size === 0) {
        // Argument mode without the shim: find the server through its socket.
        for (const pid of socketOwners(listeners.map((l) => l.inode))) this.#addServer(pid);
      }
      if (!this.#isReady) {
        this.#isReady = true;
        clearTimeout(this.#readyTimer);
        logInfo("wrap: server is listening", {
          target: this.#family === 6 ? `[::1]:${this.port}` : `127.0.0.1:${this.port}`,
        });
        this.#readyD.resolve();
      }
    }
    if (!this.#exited) {
      if (this.#childExit === undefined) return;
      const alive = [...this.#servers.values()].filter((s) =>
        s.pid !== this.#child?.pid && isAlive(s)
      );
      if (alive.length > 0) {
        if (!this.#announcedDaemon) {
          this.#announcedDaemon = true;
          logInfo("wrap: command exited; supervising the server it started", {
            code: this.#childExit,
            server: alive.map((s) => s.pid).join(","),
          });
        }
        return;
      }
      this.#onExit(this.#childExit);
      return;
    }
    this.#maybeRespawn();
  }

  #onExit(code: number): void {
    this.#exited = true;
    logInfo("wrap: wrapped command exited", { code, mode: this.#wrap.mode });
    if (!this.#isReady && this.#wrap.mode !== "respawn") {
      clearTimeout(this.#readyTimer);
      this.#readyD.reject(new Error(this.#notReadyText(`exit ${code}`)));
    }
    if (this.#wrap.mode === "exit") this.#doneD.resolve(code);
  }

  #maybeRespawn(): void {
    if (this.#starts.waitMs() > 0) {
      if (!this.#warnedTooFast) {
        this.#warnedTooFast = true;
        logWarn("wrap: command respawning too fast; waiting before the next start");
      }
      return;
    }
    this.restarts++;
    logInfo("wrap: respawning wrapped command", { restart: this.restarts });
    try {
      this.#spawn();
    } catch (e) {
      logWarn(`wrap: could not start "${this.#plan.argv[0]}": ${(e as Error).message}`);
      this.#exited = true;
    }
  }

  #notReadyText(why: string): string {
    return notReadyText(why, {
      wrap: this.#wrap,
      listenPort: this.#options.listenPort,
      port: this.port,
      bindError: this.#bindError,
      plan: this.#plan,
    });
  }

  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#readyTimer);
    if (!this.#isReady) {
      this.#readyD.reject(new Error("wrap mode was stopped before the server was ready"));
    }
    const own = processGroup(Deno.pid);
    const groups = new Set<number>();
    for (const c of this.#children) groups.add(c.pid);
    const servers = this.#allServers.filter(isAlive);
    for (const s of servers) {
      const g = processGroup(s.pid);
      if (g !== undefined) groups.add(g);
    }
    for (const g of [...groups]) if (g <= 1 || g === own) groups.delete(g);
    const anyLeft = () =>
      this.#allServers.some(isAlive) ||
      [...groups].some((g) => groupMembers(g).length > 0);
    const signal = (sig: Deno.Signal) => {
      for (const g of groups) {
        try {
          Deno.kill(-g, sig);
        } catch { /* group already empty */ }
      }
      for (const s of this.#allServers.filter(isAlive)) {
        try {
          Deno.kill(s.pid, sig);
        } catch { /* gone */ }
      }
    };
    const waitGone = async (ms: number) => {
      const deadline = Date.now() + ms;
      while (anyLeft() && Date.now() < deadline) await sleep(100);
    };
    if (anyLeft()) {
      signal("SIGTERM");
      await waitGone((this.#options.graceSeconds ?? 5) * 1000);
      if (anyLeft()) {
        logWarn("wrap: wrapped processes ignored SIGTERM; sending SIGKILL");
        signal("SIGKILL");
        await waitGone(2000);
      }
    }
    await Promise.all(this.#children.map((c) => c.status));
    await this.#childStatus;
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Starts the wrapped command of `wrap` so that it listens on a free loopback
 * port instead of `options.listenPort`; the returned handle tells when it is
 * ready, where to connect, when vncws should exit, and stops it.
 * Throws (after cleaning up) when the shim is needed but unavailable or the
 * command cannot be started.
 */
export async function startWrap(wrap: WrapConfig, options: WrapOptions): Promise<WrapHandle> {
  if (wrap.command.length === 0) throw new Error("wrap mode needs a command after --");
  const dir = await Deno.makeTempDir({ prefix: "vncws-wrap-" }); // mode 0700
  try {
    const port = options.port ?? freeLoopbackPort();
    const plan = await makePlan(wrap, dir, { old: options.listenPort, new: port });
    if (plan.preload) {
      const expected = expectedPort(wrap.command);
      if (expected !== undefined && expected !== options.listenPort) {
        logWarn(
          `wrap: the command will listen on port ${expected} (display :${expected - 5900} or ` +
            `-rfbport), but vncws listens on ${options.listenPort}; only a bind of ` +
            `${options.listenPort} is moved, so the server will be unreachable through vncws ` +
            `and may be reachable directly. Use listen port ${expected}.`,
        );
      }
    }
    const supervisor = new Supervisor(wrap, options, dir, port, plan);
    try {
      supervisor.start();
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new Error(
          `cannot start the wrapped command "${
            wrap.command[0]
          }": not found; check its name and PATH`,
        );
      }
      throw e;
    }
    return supervisor;
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}
