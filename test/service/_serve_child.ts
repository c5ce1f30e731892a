/**
 * Child for the ops integration test: the real accept loop (serve) on a
 * socket-activated listener, with the real session book (--record, metrics,
 * the session table) and the ops listener, as src/app/run.ts wires them.
 * Env: TARGET_PORT, RECORD (path prefix).
 * @module
 */
import { defaultConfig } from "../../src/config/config.ts";
import { connectTarget } from "../../src/net/connect.ts";
import { serve } from "../../src/proxy/server.ts";
import type { ProxyContext } from "../../src/proxy/context.ts";
import { type ClientInfo, peerIp } from "../../src/auth/client.ts";
import { createSessionBook } from "../../src/metrics/session_book.ts";
import { startOpsServer } from "../../src/metrics/ops_server.ts";
import { listenFdsListener, notifyReady } from "../../src/service/systemd.ts";

const listener = await listenFdsListener();
if (!listener) throw new Error("not socket-activated");
const target = {
  kind: "tcp" as const,
  hostname: "127.0.0.1",
  port: Number(Deno.env.get("TARGET_PORT")),
};
const config = {
  ...defaultConfig(),
  record: Deno.env.get("RECORD")!,
  metrics: { hostname: "127.0.0.1", port: 0 },
};
const book = createSessionBook(config);
const stop = new AbortController();

// Every client goes to the one target, as with a positional host:port.
const routeOf = (client: ClientInfo) => ({ target, address: peerIp(client.peer), release() {} });
const ctx: ProxyContext = {
  config,
  access: {
    route: (_head, client) => Promise.resolve(routeOf(client)),
    rawAllowed: false,
    routeRaw: routeOf,
    clientAddress: (client) => peerIp(client.peer),
  },
  connector: { connect: (t) => connectTarget(t, { timeoutMs: 5000 }) },
  sessions: book,
  signal: stop.signal,
};
const server = serve(listener, ctx, { maxConnections: 10 });
const ops = await startOpsServer({
  hostname: "127.0.0.1",
  port: 0,
  metrics: book.metrics!.registry,
  ready: () => ({ ok: true }),
  sessions: () => book.table!.list(),
});
console.log(`ops port ${ops.addr.port}`);
await notifyReady();
Deno.addSignalListener("SIGTERM", async () => {
  server.stopAccepting();
  stop.abort();
  await server.finished;
  await ops.close();
  console.log("child stopped");
  Deno.exit(0);
});
