/**
 * Child for the ops integration test: the real accept loop (serve) on a
 * socket-activated listener, with --record, metrics, the session table and
 * the ops listener wired the way the issue describes. Sessions are handled
 * one at a time here (the hooks keep "the current session"), which is
 * enough for the test.
 * Env: TARGET_PORT, RECORD (path prefix).
 * @module
 */
import { defaultConfig } from "../../src/config.ts";
import { connectTarget } from "../../src/net/connect.ts";
import { serve } from "../../src/proxy/server.ts";
import type { SessionContext } from "../../src/proxy/session.ts";
import { createVncwsMetrics } from "../../src/ops/metrics.ts";
import { countingHooks, SessionTable, startOpsServer } from "../../src/ops/ops_server.ts";
import type { SessionInfo } from "../../src/ops/sessions.ts";
import { createRecorder, type Recorder } from "../../src/ops/record.ts";
import { listenFdsListener, notifyReady } from "../../src/ops/systemd.ts";

const listener = await listenFdsListener();
if (!listener) throw new Error("not socket-activated");
const target = {
  kind: "tcp" as const,
  hostname: "127.0.0.1",
  port: Number(Deno.env.get("TARGET_PORT")),
};
const metrics = createVncwsMetrics();
const table = new SessionTable();
metrics.registry.onCollect(() => metrics.sessionsActive.set(table.size));
let nextId = 0;
let current: { info: SessionInfo; recorder: Recorder } | undefined;
const stop = new AbortController();

const ctx: SessionContext = {
  config: defaultConfig(),
  route: () => Promise.resolve({ target }),
  connect: (t) => connectTarget(t, { timeoutMs: 5000 }),
  signal: stop.signal,
  relayOptions: (client) => {
    const id = ++nextId;
    const info = table.add({ id, client: client.peer, target: "echo", started: Date.now() });
    const recorder = createRecorder(Deno.env.get("RECORD")!, id);
    current = { info, recorder };
    return { record: countingHooks(info, recorder) };
  },
  onSessionEnd: (r) => {
    metrics.bytesToTarget.inc(r.toTarget);
    metrics.bytesToClient.inc(r.toClient);
    metrics.sessionsTotal.labels(r.code === 1000 ? "target_closed" : "client_closed").inc();
    if (current) {
      table.remove(current.info.id);
      void current.recorder.close();
      current = undefined;
    }
  },
};
const server = serve(listener, ctx, { maxConnections: 10 });
const ops = await startOpsServer({
  hostname: "127.0.0.1",
  port: 0,
  metrics: metrics.registry,
  ready: () => ({ ok: true }),
  sessions: () => table.list(),
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
