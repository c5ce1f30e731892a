/**
 * How much memory the `Deno.serve` adapter (src/web/deno_serve.ts) holds
 * when one side is slow: a bulk download to a client that reads slowly, and
 * a bulk upload to a target that reads slowly. The test of the adapter runs
 * small sizes; `deno run -A scripts/testing/deno_serve_pressure.ts [MiB]`
 * prints the numbers for README's "Inside your own Deno.serve app".
 * @module
 */
import { sleep } from "../../src/base/time.ts";
import {
  type DenoServeRelayOptions,
  type DenoServeSessionResult,
  vncwsHandler,
} from "../../src/web/deno_serve.ts";
import { listenTcp, startEchoTarget } from "./targets.ts";

/** What one run measured. */
export interface PressureResult {
  /** The session's end record (its peaks, bytes and close code). */
  session: DenoServeSessionResult;
  /** Bytes the slow side received. */
  delivered: number;
  /** The highest RSS seen minus the RSS before the run (this process: app, target and client). */
  rssGrowth: number;
}

const MiB = 1024 * 1024;

/** Samples RSS until stopped; returns the peak growth over the start. */
function rssSampler(): { stop(): number } {
  const base = Deno.memoryUsage().rss;
  let peak = base;
  const t = setInterval(() => peak = Math.max(peak, Deno.memoryUsage().rss), 20);
  return {
    stop() {
      clearInterval(t);
      return Math.max(peak, Deno.memoryUsage().rss) - base;
    },
  };
}

/** Serves the adapter on a free port in front of `port`; resolves the session's end. */
function serve(port: number, options: DenoServeRelayOptions) {
  let ended!: (r: DenoServeSessionResult) => void;
  const end = new Promise<DenoServeSessionResult>((r) => ended = r);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    vncwsHandler({
      ...options,
      route: () => ({ kind: "tcp", hostname: "127.0.0.1", port }),
      onSessionEnd: ended,
    }),
  );
  return { port: server.addr.port, end, shutdown: () => server.shutdown() };
}

/**
 * `bytes` from a target that writes as fast as it can, to a WebSocket
 * client that reads 16 KiB per millisecond or so (a raw socket: it sends
 * nothing, so only TCP and the adapter's pause hold the bytes back).
 */
export async function measureDownload(
  bytes: number,
  options: DenoServeRelayOptions = {},
): Promise<PressureResult> {
  const target = listenTcp(async (conn) => {
    const chunk = new Uint8Array(256 * 1024);
    for (let sent = 0; sent < bytes; sent += chunk.length) {
      let off = 0;
      while (off < chunk.length) off += await conn.write(chunk.subarray(off));
    }
  });
  const app = serve(target.port, options);
  const rss = rssSampler();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: app.port });
  await conn.write(
    new TextEncoder().encode(
      "GET /websockify HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    ),
  );
  // Frame headers (at most 10 bytes a frame of 64 KiB) and the 101 head come
  // on top; reading on to EOF counts every byte.
  let received = 0;
  const buf = new Uint8Array(16 * 1024);
  for (;;) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) break;
    received += n;
    if (received >= bytes) break;
    await sleep(1);
  }
  conn.close();
  const session = await app.end;
  const rssGrowth = rss.stop();
  await app.shutdown();
  await target.close();
  return { session, delivered: received, rssGrowth };
}

/**
 * `bytes` from a WebSocket client to a target that reads 64 KiB every 2 ms.
 * The client sends 64 KiB messages whenever its own `bufferedAmount` is under
 * 1 MiB, or, with `paceMs`, one message every `paceMs` ms.
 */
export async function measureUpload(
  bytes: number,
  options: DenoServeRelayOptions & { paceMs?: number } = {},
): Promise<PressureResult> {
  const target = startEchoTarget({
    banner: "",
    echo: false,
    slow: { chunk: 64 * 1024, delayMs: 2 },
  });
  const app = serve(target.port, options);
  const rss = rssSampler();
  const ws = new WebSocket(`ws://127.0.0.1:${app.port}/websockify`, ["binary"]);
  let closed = false;
  ws.onclose = () => closed = true;
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("WebSocket failed"));
  });
  const chunk = new Uint8Array(64 * 1024);
  for (let sent = 0; sent < bytes && !closed; sent += chunk.length) {
    if (options.paceMs) await sleep(options.paceMs);
    else while (ws.bufferedAmount > MiB && !closed) await sleep(1);
    if (!closed) ws.send(chunk);
  }
  // Wait for the target to take it all, or for the relay to close the client.
  while (!closed && target.received() < bytes) await sleep(10);
  if (!closed) ws.close(1000);
  const session = await app.end;
  const rssGrowth = rss.stop();
  await app.shutdown();
  await target.close();
  return { session, delivered: target.received(), rssGrowth };
}

function mib(n: number): string {
  return `${(n / MiB).toFixed(2)} MiB`;
}

/** The runs the script makes, each in a fresh process so its RSS is its own. */
const RUNS: Record<string, [string, (size: number) => Promise<[PressureResult, number]>]> = {
  down: ["slow reader, defaults", async (n) => {
    const r = await measureDownload(n);
    return [r, r.session.peakBufferedToClient];
  }],
  "down-unpaused": ["slow reader, no pause (for comparison)", async (n) => {
    const r = await measureDownload(n, { highWaterMark: Number.MAX_SAFE_INTEGER });
    return [r, r.session.peakBufferedToClient];
  }],
  up: ["slow target, client at full speed", async (n) => {
    const r = await measureUpload(n);
    return [r, r.session.peakQueuedToTarget];
  }],
  "up-paced": ["slow target, client paced 64 KiB/4 ms", async (n) => {
    const r = await measureUpload(n, { paceMs: 4 });
    return [r, r.session.peakQueuedToTarget];
  }],
};

if (import.meta.main) {
  const size = Number(Deno.args[0] ?? 64) * MiB;
  const only = Deno.args[1];
  if (only) {
    const [r, peak] = await RUNS[only][1](size);
    console.log(JSON.stringify({ ...r, peak }));
  } else {
    console.log("| run | delivered | peak queued | RSS growth | end |");
    console.log("|---|---|---|---|---|");
    for (const [key, [name]] of Object.entries(RUNS)) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL(import.meta.url).pathname, String(size / MiB), key],
        stderr: "inherit",
      }).output();
      const r = JSON.parse(new TextDecoder().decode(out.stdout)) as PressureResult & {
        peak: number;
      };
      const dir = key.startsWith("up") ? "up" : "down";
      console.log(
        `| ${dir} ${mib(size)}, ${name} | ${mib(r.delivered)} | ${mib(r.peak)} | ` +
          `${mib(r.rssGrowth)} | ${r.session.code} ${r.session.reason} |`,
      );
    }
  }
}
