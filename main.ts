/**
 * vncws — a WebSocket ↔ TCP proxy for VNC. Entry point: parse the command
 * line, run the proxy (or the bridge), exit with its code.
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 usage error.
 * @module
 */
import {
  HELP,
  MULTIPLE_OPTIONS,
  OPTION_KINDS,
  parseCommandLine,
  UsageError,
  VERSION,
} from "./src/cli/cli.ts";
import { configFileArgs, ConfigFileError } from "./src/cli/config_file.ts";
import { runProxy } from "./src/app/run.ts";
import { flushLog } from "./src/base/log.ts";
import { daemonize, isDaemonChild, reportToParent } from "./src/service/daemon.ts";

/**
 * `--config FILE`: the file's options go first, so the command line wins.
 * Wrap commands after `--` are never searched.
 */
async function withConfigFile(argv: string[]): Promise<string[]> {
  const end = argv.indexOf("--");
  const ours = end < 0 ? argv : argv.slice(0, end);
  const i = ours.findIndex((a) => a === "--config" || a.startsWith("--config="));
  if (i < 0) return argv;
  const path = ours[i] === "--config" ? ours[i + 1] : ours[i].slice("--config=".length);
  if (!path) throw new UsageError("--config needs a file");
  const rest = [...argv.slice(0, i), ...argv.slice(i + (ours[i] === "--config" ? 2 : 1))];
  return [
    ...await configFileArgs(path, { knownOptions: OPTION_KINDS, multiple: MULTIPLE_OPTIONS }),
    ...rest,
  ];
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "bridge") {
    // The client bridge has its own options; loaded only when asked for.
    const { runBridge } = await import("./src/bridge/main.ts");
    return await runBridge(argv.slice(1));
  }
  if (argv[0] === "replay") {
    const { runReplay } = await import("./src/recording/replay.ts");
    return await runReplay(argv.slice(1));
  }
  const given = argv;
  try {
    argv = await withConfigFile(given);
  } catch (e) {
    if (e instanceof ConfigFileError || e instanceof UsageError) {
      console.error(`vncws: ${e.message}`);
      return 2;
    }
    throw e;
  }
  let cmd;
  try {
    cmd = parseCommandLine(argv);
  } catch (e) {
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
  for (const w of cmd.warnings) console.error(`vncws: warning: ${w}`);
  if (cmd.config.daemon && !isDaemonChild()) return await daemonize(given);
  // SIGHUP re-reads --config (when one was given) through the same parser.
  const reload = given.some((a) => a === "--config" || a.startsWith("--config="))
    ? async () => {
      const next = parseCommandLine(await withConfigFile(given));
      if (next.kind !== "run") throw new Error("the configuration no longer describes a proxy");
      return next.config;
    }
    : undefined;
  try {
    return await runProxy(cmd.config, { reload });
  } catch (e) {
    reportToParent({ ok: false, error: e instanceof Error ? e.message : String(e) });
    if (e instanceof Deno.errors.AddrInUse) {
      console.error(
        `vncws: the listen address is already in use: ${e.message}\n` +
          "Stop the other program or choose another port.",
      );
      return 1;
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      console.error(
        `vncws: permission denied: ${e.message}\nPorts below 1024 need root or CAP_NET_BIND_SERVICE.`,
      );
      return 1;
    }
    console.error(`vncws: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

if (import.meta.main) {
  const code = await main(Deno.args);
  flushLog();
  Deno.exit(code);
}
