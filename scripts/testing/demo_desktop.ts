/**
 * The built-in demo desktop as a process of its own, listening on an address
 * the tests choose (a VNC server for the hosts of a network made by
 * scripts/testing/netns.ts): `deno run -A demo_desktop.ts HOST PORT`. Prints
 * `demo desktop listening on HOST:PORT` when it accepts; stops on SIGTERM.
 * @module
 */
import { startDemoServer } from "../../src/demo/rfb_server.ts";

/** This file's path, for starting it as a process. */
export const DEMO_DESKTOP: string = new URL(import.meta.url).pathname;

if (import.meta.main) {
  const [hostname, port] = Deno.args;
  if (!hostname || !port) {
    console.error("usage: deno run -A scripts/testing/demo_desktop.ts HOST PORT");
    Deno.exit(2);
  }
  const server = await startDemoServer({ hostname, port: Number(port) });
  console.log(`demo desktop listening on ${server.addr.hostname}:${server.addr.port}`);
  Deno.addSignalListener("SIGTERM", async () => {
    await server.close();
    Deno.exit(0);
  });
}
