/**
 * `vncws [options] …`: reads `--config`, parses the command line, prints help
 * or the version, daemonizes when asked, and runs the proxy; turns each kind
 * of failure into its message and exit code (0 ok, 1 runtime failure, 2
 * usage error).
 * @module
 */
import { HELP, parseCommandLine, PROXY_COMMAND, UsageError, VERSION } from "./cli.ts";
import { configFileArgs, ConfigFileError, configFileOptions } from "./config_file.ts";
import type { Config, WorkerRole } from "../config/config.ts";
import { runProxy } from "../app/run.ts";
import { daemonize, isDaemonChild, reportToParent } from "../service/daemon.ts";

const FILE_KEYS = configFileOptions(PROXY_COMMAND);

/** Whether `arg` is `--config` or `--config=FILE`. */
const isConfigFlag = (arg: string) => arg === "--config" || arg.startsWith("--config=");

/**
 * `--config FILE`: the file's options go first, so the command line wins.
 * Wrap commands after `--` are never searched.
 */
export async function withConfigFile(argv: string[]): Promise<string[]> {
  const end = argv.indexOf("--");
  const ours = end < 0 ? argv : argv.slice(0, end);
  const i = ours.findIndex(isConfigFlag);
  if (i < 0) return argv;
  const path = ours[i] === "--config" ? ours[i + 1] : ours[i].slice("--config=".length);
  if (!path) throw new UsageError("--config needs a file");
  const rest = [...argv.slice(0, i), ...argv.slice(i + (ours[i] === "--config" ? 2 : 1))];
  return [...await configFileArgs(path, FILE_KEYS), ...rest];
}

/** SIGHUP re-reads --config (when one was given) through the same parser. */
function reloader(argv: string[]): (() => Promise<Config>) | undefined {
  if (!argv.some(isConfigFlag)) return undefined;
  return async () => {
    const next = parseCommandLine(await withConfigFile(argv));
    if (next.kind !== "run") throw new Error("the configuration no longer describes a proxy");
    return next.config;
  };
}

/** What a start-up failure means to the user, and what to do about it. */
function startFailure(e: unknown, config: Config): string {
  if (e instanceof Deno.errors.AddrInUse) {
    return `the listen address is already in use: ${e.message}\n` +
      (config.unixListen !== undefined
        ? "Stop the other program or choose another --unix-listen path."
        : "Stop the other program or choose another port.");
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    return `permission denied: ${e.message}\n` +
      "Ports below 1024 need root or CAP_NET_BIND_SERVICE.";
  }
  return e instanceof Error ? e.message : String(e);
}

/** Runs `vncws` with `argv` (the program's arguments); resolves the exit code. */
export async function proxyMain(argv: string[]): Promise<number> {
  let cmd;
  try {
    cmd = parseCommandLine(await withConfigFile(argv));
  } catch (e) {
    if (e instanceof ConfigFileError) {
      console.error(`vncws: ${e.message}`);
      return 2;
    }
    if (e instanceof UsageError) {
      console.error(`vncws: ${e.message}\nTry 'vncws --help' for the options.`);
      return 2;
    }
    throw e;
  }
  if (cmd.kind === "help") {
    console.log(HELP);
    return 0;
  }
  if (cmd.kind === "version") {
    console.log(`vncws ${VERSION}`);
    return 0;
  }
  // --workers' code is loaded only by its parent and its workers: start-up time counts.
  const workers = Deno.env.get("VNCWS_WORKER") || cmd.config.workers > 1
    ? await import("../app/workers.ts")
    : undefined;
  const role = workers?.workerRole();
  if (workers && role) {
    workers.watchParent();
    return await runWorker(cmd.config, role, argv);
  }
  for (const w of cmd.warnings) console.error(`vncws: warning: ${w}`);
  if (cmd.config.daemon && !isDaemonChild()) return await daemonize(argv);
  if (workers) return await run(cmd.config, () => workers.runWorkers(cmd.config, argv));
  const reload = reloader(argv);
  return await run(cmd.config, () => runProxy(cmd.config, { reload }));
}

/** Runs `fn`, turning a start-up failure into its message and exit code 1. */
async function run(config: Config, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    reportToParent({ ok: false, error: e instanceof Error ? e.message : String(e) });
    console.error(`vncws: ${startFailure(e, config)}`);
    return 1;
  }
}

/**
 * A `--workers` relay process: the parent's command line, run as one
 * proxy that shares the port; the parent keeps `--metrics` (the worker
 * serves its share on a private socket), `--pid-file` and `--daemon` to
 * itself (and already printed the warnings).
 */
function runWorker(config: Config, role: WorkerRole, argv: string[]): Promise<number> {
  config.worker = role;
  config.pidFile = undefined;
  return run(config, () => runProxy(config, { reload: reloader(argv) }));
}
