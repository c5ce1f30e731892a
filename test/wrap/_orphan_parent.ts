/**
 * A stand-in for vncws in the orphan test: wraps the command given after
 * the listen port, prints one JSON line with the PIDs once the server is
 * ready, and then waits to be killed (SIGKILL, so it cannot clean up).
 * Usage: deno run -A _orphan_parent.ts LISTEN_PORT COMMAND...
 */
import { configureLog } from "../../src/base/log.ts";
import { startWrap } from "../../src/wrap/supervisor.ts";

configureLog({ sink: () => {} });
const [port, ...command] = Deno.args;
const w = await startWrap(
  { command, mode: "ignore", portArg: "preload", readyTimeout: 20 },
  { listenPort: Number(port), output: "null" },
);
await w.ready;
console.log(JSON.stringify({ child: w.childPid, servers: w.serverPids, port: w.port }));
setInterval(() => {}, 60_000);
