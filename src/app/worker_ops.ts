/**
 * The `--workers` parent's `--metrics` listener: `/metrics`, `/readyz`, the
 * status page and `/sessions.json` describe the whole host. The parent asks
 * each running worker over the unix socket that worker serves in the
 * parent's private directory (`GET` over HTTP/1.0, the worker's own ops
 * pages), then sums the metrics (`metrics/aggregate.ts`), joins the session
 * lists (each session names its worker) and is ready when the workers are.
 *
 * Why the parent aggregates instead of each worker answering for itself: a
 * scrape or a load balancer's probe reaches one port, and an answer from
 * whichever worker the kernel picked would describe a random share of the
 * host.
 * @module
 */
import { createAddressCheck } from "../auth/authorize.ts";
import { logInfo } from "../base/log.ts";
import { type Config, workerOpsPath } from "../config/config.ts";
import { sumExpositions } from "../metrics/aggregate.ts";
import { Registry } from "../metrics/metrics.ts";
import type { SessionInfo } from "../metrics/sessions.ts";
import { formatHostPort } from "../net/address.ts";
import { raceTimeout } from "../base/time.ts";
import type { ReadyState } from "./lifecycle.ts";
import { opsGuard } from "./ops.ts";

/** What the parent knows of its workers, for the ops listener. */
export interface WorkerView {
  /** Ids of the workers running and listening now. */
  listening(): number[];
  /** Workers configured (`--workers N`). */
  readonly count: number;
  /** Restarts of crashed workers so far. */
  readonly restarts: number;
  /** True once the parent is stopping. */
  readonly stopping: boolean;
  /** The parent's private directory, where each worker serves its ops socket. */
  readonly dir: string;
  /** Why the host is not ready whatever its workers say (wrap mode: the server is starting). */
  notReady?(): string | undefined;
}

/** An answer from a worker's ops socket. */
export interface Answer {
  /** The HTTP status (0 when the answer had no status line). */
  status: number;
  /** The body as text. */
  body: string;
}

const decoder = new TextDecoder();

/** `GET path` on the unix socket at `socket`; rejects when the worker does not answer in time. */
export async function unixGet(socket: string, path: string, timeoutMs = 2000): Promise<Answer> {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  try {
    const request = `GET ${path} HTTP/1.0\r\nHost: worker\r\n\r\n`;
    await conn.write(new TextEncoder().encode(request));
    const read = (async () => {
      const parts: Uint8Array[] = [];
      for await (const chunk of conn.readable) parts.push(chunk);
      return decoder.decode(await new Blob(parts as BlobPart[]).arrayBuffer());
    })();
    const text = await raceTimeout(read, timeoutMs);
    if (typeof text !== "string") throw new Error(`no answer to ${path} within ${timeoutMs} ms`);
    const cut = text.indexOf("\r\n\r\n");
    const status = Number(/^HTTP\/1\.\d (\d{3})/.exec(text)?.[1] ?? 0);
    return { status, body: cut < 0 ? "" : text.slice(cut + 4) };
  } finally {
    try {
      conn.close();
    } catch { /* closed by the reader */ }
  }
}

/** Each listening worker's answer to `path`; workers that do not answer are left out. */
async function askAll(
  workers: WorkerView,
  path: string,
): Promise<Array<{ id: number; answer: Answer }>> {
  const dir = workers.dir;
  const asked = await Promise.allSettled(
    workers.listening().map(async (id) => ({
      id,
      answer: await unixGet(workerOpsPath({ id, dir }), path),
    })),
  );
  return asked.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
}

/** The host's readiness: not while stopping, and only when every answering worker is ready. */
async function hostReady(workers: WorkerView): Promise<ReadyState> {
  if (workers.stopping) return { ok: false, why: "stopping" };
  const why = workers.notReady?.();
  if (why) return { ok: false, why };
  const answers = await askAll(workers, "/readyz");
  const notReady = answers.find((a) => a.answer.status !== 200);
  if (notReady) {
    return {
      ok: false,
      why: `worker ${notReady.id}: ${notReady.answer.body.replace(/^not ready: /, "").trim()}`,
    };
  }
  // A worker being restarted is left out: the kernel sends its share to the others meanwhile.
  if (answers.length === 0) return { ok: false, why: "no worker is listening" };
  return { ok: true };
}

/**
 * Starts the parent's `--metrics` listener; resolves its close function,
 * or undefined without `--metrics`.
 */
export async function startWorkerOps(
  config: Config,
  workers: WorkerView,
): Promise<(() => Promise<void>) | undefined> {
  if (!config.metrics) return undefined;
  const own = new Registry();
  const running = own.gauge("vncws_workers", "Relay processes (--workers) listening now.")
    .labels();
  const restarts = own.counter(
    "vncws_worker_restarts_total",
    "Relay processes (--workers) started again after they crashed.",
  ).labels();
  own.onCollect(() => {
    running.set(workers.listening().length);
    restarts.inc(workers.restarts - restarts.value);
  });
  const { startOpsServer } = await import("../metrics/ops_server.ts");
  const ops = await startOpsServer({
    hostname: config.metrics.hostname,
    port: config.metrics.port,
    metrics: {
      expose: async () =>
        sumExpositions([
          own.expose(),
          ...(await askAll(workers, "/metrics")).map((a) => a.answer.body),
        ]),
    },
    ready: () => hostReady(workers),
    sessions: async () =>
      (await askAll(workers, "/sessions.json")).flatMap((a) => {
        try {
          return JSON.parse(a.answer.body) as SessionInfo[];
        } catch {
          return [];
        }
      }).sort((a, b) => a.started - b.started),
    // The status page names clients: the same --allow-ip/--deny-ip as the proxy port.
    guard: opsGuard(createAddressCheck(config.allowIp, config.denyIp)),
  });
  logInfo(`metrics on http://${formatHostPort(ops.addr.hostname, ops.addr.port)}/metrics`, {
    workers: workers.count,
  });
  return () => ops.close();
}
