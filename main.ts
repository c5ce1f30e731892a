/**
 * vncws — a WebSocket ↔ TCP proxy for VNC. Entry point: parse the command
 * line, run the proxy (or the bridge), exit with its code.
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 usage error.
 * @module
 */
import { HELP, parseCommandLine, UsageError, VERSION } from "./src/cli.ts";
import { runProxy } from "./src/app.ts";
import { daemonize, isDaemonChild, reportToParent } from "./src/lifecycle/daemon.ts";

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "bridge") {
    // The client bridge has its own options; loaded only when asked for.
    const { runBridge } = await import("./src/bridge/main.ts");
    return await runBridge(argv.slice(1));
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
  if (cmd.config.daemon && !isDaemonChild()) return await daemonize(argv);
  try {
    return await runProxy(cmd.config);
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
  Deno.exit(await main(Deno.args));
}
