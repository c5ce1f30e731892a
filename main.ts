/**
 * vncws — a WebSocket ↔ TCP proxy for VNC. Entry point: the first argument
 * picks the command (`bridge`, `replay`, `sessions`, else the proxy); each command parses
 * its own options and resolves its exit code.
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 usage error.
 * @module
 */
import { proxyMain } from "./src/cli/proxy_main.ts";
import { flushLog } from "./src/base/log.ts";

async function main(argv: string[]): Promise<number> {
  switch (argv[0]) {
    case "bridge": {
      // The client bridge and replay are loaded only when asked for.
      const { bridgeMain } = await import("./src/cli/bridge.ts");
      return await bridgeMain(argv.slice(1));
    }
    case "replay": {
      const { replayMain } = await import("./src/cli/replay.ts");
      return await replayMain(argv.slice(1));
    }
    case "sessions": {
      const { sessionsMain } = await import("./src/cli/sessions.ts");
      return await sessionsMain(argv.slice(1));
    }
    default:
      return await proxyMain(argv);
  }
}

if (import.meta.main) {
  const code = await main(Deno.args);
  flushLog();
  Deno.exit(code);
}
