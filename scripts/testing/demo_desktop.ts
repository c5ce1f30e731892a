/**
 * The built-in demo desktop as a process of its own, listening on an address
 * the tests choose (a VNC server for the hosts of a network made by
 * scripts/testing/netns.ts): `deno run -A demo_desktop.ts HOST PORT`. Prints
 * `demo desktop listening on HOST:PORT` when it accepts; stops on SIGTERM.
 *
 * With `--echo` first it is an echo target instead: it sends the RFB banner,
 * then echoes every byte (for sessions that carry checked data).
 * @module
 */
import { startDemoServer } from "../../src/demo/rfb_server.ts";

/** This file's path, for starting it as a process. */
export const DEMO_DESKTOP: string = new URL(import.meta.url).pathname;

/** Sends the RFB banner on each connection, then echoes what arrives; never returns. */
async function serveEcho(hostname: string, port: number): Promise<void> {
  const listener = Deno.listen({ hostname, port });
  console.log(`demo desktop listening on ${hostname}:${port} (echo)`);
  for await (const conn of listener) {
    (async () => {
      try {
        await conn.write(new TextEncoder().encode("RFB 003.008\n"));
        await conn.readable.pipeTo(conn.writable);
      } catch { /* the peer went */ }
    })();
  }
}

if (import.meta.main) {
  const echo = Deno.args[0] === "--echo";
  const [hostname, port] = Deno.args.slice(echo ? 1 : 0);
  if (!hostname || !port) {
    console.error("usage: deno run -A scripts/testing/demo_desktop.ts [--echo] HOST PORT");
    Deno.exit(2);
  }
  if (echo) await serveEcho(hostname, Number(port));
  const server = await startDemoServer({ hostname, port: Number(port) });
  console.log(`demo desktop listening on ${server.addr.hostname}:${server.addr.port}`);
  Deno.addSignalListener("SIGTERM", async () => {
    await server.close();
    Deno.exit(0);
  });
}
