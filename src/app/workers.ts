/**
 * `--workers N`: vncws relays on one thread, so a host with N cores runs N
 * relay processes that share the listen port, under one parent that:
 *
 * - starts them: each is this same program with the same arguments and
 *   `VNCWS_WORKER=<id>:<dir>` in its environment (`<dir>`: the parent's
 *   private 0700 directory), a normal proxy run (run.ts) that listens with
 *   SO_REUSEPORT; Linux spreads new connections among the listening
 *   processes by a hash of the addresses and ports (with `--inetd` they
 *   accept on the one inherited socket instead);
 * - restarts one that crashed (logged; throttled as wrap mode's respawn,
 *   `base/respawn.ts`); the others and their sessions are untouched. A
 *   worker that exits 0 by itself (`--timeout`, `--idle-timeout`) is not
 *   restarted; the parent exits when the last one has;
 * - forwards SIGTERM/SIGINT (a drain: each worker stops accepting and gives
 *   its sessions `--drain-timeout`; the same signal again closes them at
 *   once) and SIGHUP (each worker reopens its log and re-reads `--config`),
 *   and exits once every worker has: 0 when all drained cleanly;
 * - serves `--metrics` for the whole host (worker_ops.ts), keeps the host's
 *   ban list (`auth/ban_store_host.ts`; `--ban-redis` replaces it) and the
 *   host's `--max-per-ip`/`--max-per-token` slots and `--handshake-rate`
 *   buckets (`auth/limits_host.ts`; `--state-redis` replaces the slots),
 *   writes `--pid-file` and talks to systemd;
 * - in wrap mode runs the one wrapped server (src/wrap/): its private
 *   loopback port is chosen before the workers start and given to them
 *   (`VNCWS_WORKER_WRAP_PORT`: their fixed target); the command starts once
 *   every worker listens, so the shim moves its bind of the listen port.
 *   `--wrap-mode exit` drains the workers and exits with the command's
 *   code; the server is stopped after the workers have drained.
 *
 * Workers run in their own process group, so a terminal's Ctrl-C reaches
 * the parent only (which forwards it once); a worker whose parent is gone
 * (SIGKILL) drains and exits by itself ({@linkcode watchParent}).
 *
 * `--max-connections` counts per worker (the host takes N times as many);
 * the other limits and the bans are the host's, because the kernel spreads
 * one client's connections over the workers. A worker's slots are freed
 * the moment its connection to the parent ends, i.e. when it dies.
 * @module
 */
import { logError, logInfo, logWarn, reopenLogFile } from "../base/log.ts";
import { RespawnThrottle } from "../base/respawn.ts";
import { tcpListeners } from "../base/procfs.ts";
import { sleep } from "../base/time.ts";
import {
  type Config,
  hostBansPath,
  hostLimitsPath,
  WORKER_STOP_SIGNAL,
  workerOpsPath,
  type WorkerRole,
} from "../config/config.ts";
import { formatHostPort, formatTarget } from "../net/address.ts";
import { CHILD_ENV, reportToParent, selfCommand } from "../service/daemon.ts";
import { notifyReady, notifyStopping } from "../service/systemd.ts";
import { startLogging } from "./logging.ts";
import { startWorkerOps, type WorkerView } from "./worker_ops.ts";

/** The environment variable that makes a process a worker: `<id>:<dir>`. */
export const WORKER_ENV = "VNCWS_WORKER";
/** Wrap mode: the loopback port of the parent's wrapped server, for the workers. */
export const WORKER_WRAP_PORT_ENV = "VNCWS_WORKER_WRAP_PORT";

/** How long a worker may take to listen. */
const START_TIMEOUT_MS = 30_000;
/** Seconds between a worker's restarts, as wrap mode's respawn. */
const RESTART_THROTTLE_SECONDS = 10;
/** After --drain-timeout, seconds a worker may still take before it is killed. */
const EXIT_GRACE_SECONDS = 10;

/** This process's worker role, when a `--workers` parent started it. */
export function workerRole(): WorkerRole | undefined {
  const v = Deno.env.get(WORKER_ENV);
  const m = v ? /^(\d+):(.+)$/.exec(v) : null;
  if (!m) return undefined;
  const wrapPort = Deno.env.get(WORKER_WRAP_PORT_ENV);
  return { id: Number(m[1]), dir: m[2], wrapPort: wrapPort ? Number(wrapPort) : undefined };
}

/**
 * In a worker: when the parent is gone (killed outright, the worker
 * re-parented), stop as at SIGTERM: drain and exit, never run on alone.
 */
export function watchParent(intervalMs = 1000): void {
  const parent = Deno.ppid;
  const timer = setInterval(() => {
    if (Deno.ppid === parent) return;
    clearInterval(timer);
    logWarn("the --workers parent is gone: stopping");
    Deno.kill(Deno.pid, WORKER_STOP_SIGNAL);
  }, intervalMs);
  Deno.unrefTimer(timer);
}

/** One worker slot: its id and the process running in it now. */
interface Slot {
  id: number;
  child?: Deno.ChildProcess;
  /** The worker listens (its ops socket is up). */
  listening: boolean;
  throttle: RespawnThrottle;
  /** Exit code of its last process (128+N when killed by signal N). */
  lastCode?: number;
  /** It stopped by itself (exit 0) and stays stopped. */
  done: boolean;
}

/** Runs the `--workers` parent for `config` (`argv`: this program's arguments); resolves the exit code. */
export async function runWorkers(config: Config, argv: string[]): Promise<number> {
  const closeLog = await startLogging(config);
  const dir = await Deno.makeTempDir({ prefix: "vncws-workers-" }); // mode 0700
  const cleanups: Array<() => unknown> = [
    () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  ];
  if (closeLog) cleanups.push(closeLog);
  try {
    return await supervise(config, argv, dir, cleanups);
  } finally {
    for (const c of cleanups.reverse()) await c();
  }
}

async function supervise(
  config: Config,
  argv: string[],
  dir: string,
  cleanups: Array<() => unknown>,
): Promise<number> {
  const port = config.listen?.port;
  if (port && !config.inetd) {
    // SO_REUSEPORT would let the workers join another vncws --workers on the port unnoticed.
    const taken = tcpListeners(port);
    if (taken.length > 0) {
      throw new Deno.errors.AddrInUse(`something already listens on port ${port}`);
    }
  }
  if (config.bans.after > 0 && !config.bans.redis) {
    const { serveHostBans } = await import("../auth/ban_store_host.ts");
    const hub = serveHostBans(hostBansPath({ dir }));
    cleanups.push(() => hub.close());
  }
  // The host's --max-per-ip, --max-per-token and --handshake-rate: always served, since a
  // worker's SIGHUP may set limits the start had not.
  const { serveHostLimits } = await import("../auth/limits_host.ts");
  const limits = serveHostLimits(hostLimitsPath({ dir }));
  cleanups.push(() => limits.close());
  const slots: Slot[] = Array.from({ length: config.workers }, (_, i) => ({
    id: i + 1,
    listening: false,
    throttle: new RespawnThrottle(RESTART_THROTTLE_SECONDS),
    done: false,
  }));
  let stopping = false;
  let restarts = 0;
  let starting = true;
  const allGone = Promise.withResolvers<void>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  cleanups.push(() => timers.forEach(clearTimeout));
  const fatal = Promise.withResolvers<string>();

  // Wrap mode: one wrapped server, started by this parent once the workers listen, on a
  // loopback port chosen now so each worker knows its target from the start.
  const wrapPort = config.wrap
    ? (await import("../wrap/free_port.ts")).freeLoopbackPort()
    : undefined;
  let wrapCode: number | undefined;
  let wrapStarting = false;
  const env = workerEnv();
  if (wrapPort !== undefined) env[WORKER_WRAP_PORT_ENV] = String(wrapPort);
  const [cmd, cmdArgs] = selfCommand(argv);
  const spawn = (slot: Slot) => {
    slot.throttle.started();
    slot.listening = false;
    const child = new Deno.Command(cmd, {
      args: cmdArgs,
      env: { ...env, [WORKER_ENV]: `${slot.id}:${dir}` },
      clearEnv: true,
      // --inetd: every worker accepts on the listening socket inherited on fd 0.
      stdin: config.inetd ? "inherit" : "null",
      stdout: "inherit",
      stderr: "inherit",
      // Its own process group: a terminal's Ctrl-C reaches the parent, which forwards it once.
      detached: true,
    }).spawn();
    slot.child = child;
    logInfo("worker started", { worker: slot.id, pid: child.pid });
    void waitListening(slot, child);
    child.status.then((s) => onExit(slot, child, s));
  };
  const waitListening = async (slot: Slot, child: Deno.ChildProcess) => {
    const socket = workerOpsPath({ id: slot.id, dir });
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (slot.child === child && Date.now() < deadline) {
      try {
        await Deno.lstat(socket);
        slot.listening = true;
        return;
      } catch { /* not yet */ }
      await sleep(50);
    }
    if (slot.child === child && !slot.listening) {
      logError("worker did not listen in time; stopping it", { worker: slot.id, pid: child.pid });
      kill(child, "SIGKILL");
    }
  };
  const onExit = (slot: Slot, child: Deno.ChildProcess, s: Deno.CommandStatus) => {
    if (slot.child !== child) return;
    slot.child = undefined;
    const wasListening = slot.listening;
    slot.listening = false;
    slot.lastCode = s.signal ? 128 + signalNumber(s.signal) : s.code;
    // Its socket file stays behind: remove it, so the next start's is not mistaken for it.
    Deno.remove(workerOpsPath({ id: slot.id, dir })).catch(() => {});
    const how = { worker: slot.id, pid: child.pid, code: s.code, signal: s.signal ?? undefined };
    if (stopping) {
      logInfo("worker exited", how);
    } else if (starting && !wasListening) {
      fatal.resolve(`worker ${slot.id} exited (code ${slot.lastCode}) before it listened`);
    } else if (s.success) {
      // --timeout or --idle-timeout stopped it: it is not crashed, and stays stopped.
      logInfo("worker stopped by itself", how);
      slot.done = true;
    } else {
      restarts++;
      const wait = slot.throttle.waitMs();
      logWarn("worker crashed; restarting", {
        ...how,
        restart: restarts,
        in: wait > 0 ? `${Math.ceil(wait / 1000)}s` : undefined,
      });
      later(wait, () => {
        if (!stopping) spawn(slot);
      });
      return;
    }
    if (slots.every((x) => x.child === undefined && (stopping || x.done))) allGone.resolve();
  };
  const kill = (child: Deno.ChildProcess, sig: Deno.Signal) => {
    try {
      child.kill(sig);
    } catch { /* already gone */ }
  };

  const view: WorkerView = {
    count: config.workers,
    get restarts() {
      return restarts;
    },
    get stopping() {
      return stopping;
    },
    dir,
    listening: () => slots.filter((x) => x.listening).map((x) => x.id),
    notReady: () => wrapStarting ? "the wrapped server is not listening yet" : undefined,
  };

  // Signals are watched before the first start: a SIGTERM during it is a stop, not a crash.
  const stop = (sig: string) => {
    if (stopping) {
      logWarn(`${sig} again: workers close every session now`);
    } else {
      stopping = true;
      logInfo("stopping", { why: sig, workers: slots.filter((x) => x.child).length });
      void notifyStopping();
      for (const t of timers) clearTimeout(t); // no restart now
      timers.clear();
      // Each worker accepts for --drain-delay, then drains for --drain-timeout; one that hangs
      // beyond is killed.
      later((config.drainDelay + config.drainTimeout + EXIT_GRACE_SECONDS) * 1000, () => {
        for (const x of slots) {
          if (!x.child) continue;
          logWarn("worker still running after the drain; killing it", { worker: x.id });
          kill(x.child, "SIGKILL");
        }
      });
      if (slots.every((x) => x.child === undefined)) allGone.resolve();
    }
    for (const x of slots) if (x.child) kill(x.child, WORKER_STOP_SIGNAL);
  };
  const handlers: Array<[Deno.Signal, () => void]> = [
    ["SIGINT", () => stop("SIGINT")],
    ["SIGTERM", () => stop("SIGTERM")],
    ["SIGHUP", () => {
      logInfo("SIGHUP: reloading; passed on to the workers");
      reopenLogFile();
      for (const x of slots) if (x.child) kill(x.child, "SIGHUP");
    }],
  ];
  for (const [s, h] of handlers) Deno.addSignalListener(s, h);
  cleanups.push(() => {
    for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
  });

  for (const slot of slots) spawn(slot);
  const up = await Promise.race([
    (async () => {
      while (!stopping && !slots.every((x) => x.listening)) await sleep(50);
    })(),
    fatal.promise,
  ]);
  starting = false;
  if (typeof up === "string") {
    // One worker could not listen (its own error is on stderr above): stop the rest.
    stopping = true;
    for (const x of slots) if (x.child) kill(x.child, WORKER_STOP_SIGNAL);
    if (slots.some((x) => x.child)) await allGone.promise;
    throw new Error(up);
  }
  if (!stopping) {
    const where = config.inetd
      ? "the socket inherited on fd 0"
      : formatHostPort(config.listen!.hostname || "::", config.listen!.port);
    logInfo(`listening on ${where}`, { workers: config.workers });
    if (config.wrap) {
      // websockify's order, as without --workers: listen first, then start the command.
      const { startWrap } = await import("../wrap/supervisor.ts");
      const wrap = await startWrap(config.wrap, { listenPort: port!, port: wrapPort })
        .catch(async (e) => {
          stop("the wrapped command could not start");
          if (slots.some((x) => x.child)) await allGone.promise;
          throw e;
        });
      cleanups.push(() => wrap.stop()); // after every worker has drained
      wrapStarting = true;
      void wrap.done.then((code) => {
        wrapCode = code;
        stop(`the wrapped command exited with code ${code}`);
      });
      wrap.ready.then(() => {
        wrapStarting = false;
        logInfo("wrapped server ready", {
          command: config.wrap!.command[0],
          target: formatTarget(wrap.target),
        });
      }, (e) => {
        logError(e instanceof Error ? e.message : String(e));
        wrapCode = 1;
        stop("the wrapped server did not start");
      });
    }
    const closeOps = await startWorkerOps(config, view);
    if (closeOps) cleanups.push(closeOps);
    if (config.pidFile) {
      const { writePidFile } = await import("../service/pid_file.ts");
      cleanups.push(writePidFile(config.pidFile));
    }
    reportToParent({ ok: true });
    void notifyReady();
  }
  await allGone.promise;
  const failed = slots.filter((x) => x.lastCode !== undefined && x.lastCode !== 0);
  logInfo("stopped", {
    failed: failed.length > 0 ? failed.map((x) => `${x.id}:${x.lastCode}`).join(",") : undefined,
  });
  return wrapCode ?? (failed.length > 0 ? 1 : 0);
}

/**
 * The parent's environment for a worker, without what belongs to the parent
 * alone: the daemon's report file, systemd's notify socket and passed fds.
 */
function workerEnv(): Record<string, string> {
  const env = Deno.env.toObject();
  for (const k of [CHILD_ENV, "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"]) {
    delete env[k];
  }
  return env;
}

/** A signal's number on Linux (for the 128+N exit code shells use). */
function signalNumber(sig: Deno.Signal): number {
  const numbers: Partial<Record<Deno.Signal, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGABRT: 6,
    SIGKILL: 9,
    SIGUSR1: 10,
    SIGUSR2: 12,
    SIGSEGV: 11,
    SIGPIPE: 13,
    SIGTERM: 15,
  };
  return numbers[sig] ?? 0;
}
