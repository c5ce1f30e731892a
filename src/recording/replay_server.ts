/**
 * The RFB server of `vncws replay`: every viewer that connects gets a
 * handshake of its own (the shared one of rfb/handshake.ts: 3.3, 3.7 or
 * 3.8, security type None — the recorded password is not needed), then the
 * planned ServerInit and the recorded updates with their recorded timing
 * (divided by the speed). What the viewer sends is read and dropped; only
 * its first message is looked at, to warn about a pixel format the
 * recording cannot honour.
 * @module
 */
import { logInfo, logWarn } from "../base/log.ts";
import { acceptLoop, type Acceptor } from "../base/accept_loop.ts";
import { sleep } from "../base/time.ts";
import { type ByteStream, DenoStream } from "../net/stream.ts";
import { RfbEndOfStream, RfbReader } from "../rfb/reader.ts";
import { serverHandshake } from "../rfb/handshake.ts";
import { ClientMessageType } from "../rfb/client_messages.ts";
import type { ReplayPlan } from "./replay_plan.ts";

/** Runs one viewer: our handshake, the recorded ServerInit, the timed updates. */
async function replayTo(
  stream: ByteStream,
  plan: ReplayPlan,
  speed: number,
  signal: AbortSignal,
): Promise<void> {
  const reader = new RfbReader(stream, 4096);
  const hello = await serverHandshake(stream, reader, {
    serverInit: plan.serverInit,
    refusal: "replay offers security type None only",
  });
  if (!hello.ok) {
    throw new Error(`the viewer chose security type ${hello.chosen}; replay offers None (1) only`);
  }

  let viewerGone = false;
  const drain = (async () => {
    const first = new Uint8Array(20);
    let got = 0;
    try {
      for (;;) {
        const chunk = await reader.some();
        if (chunk === null) break;
        if (got < first.length) {
          const k = Math.min(chunk.length, first.length - got);
          first.set(chunk.subarray(0, k), got);
          got += k;
          if (got === first.length) warnPixelFormat(first, plan);
        }
      }
    } catch { /* closed */ }
    viewerGone = true;
  })();

  const start = performance.now();
  for (const f of plan.updates) {
    if (viewerGone || signal.aborted) break;
    if (speed > 0) {
      const wait = f.ms / speed - (performance.now() - start);
      if (wait > 0) await sleep(wait, signal);
      if (signal.aborted) break;
    }
    await stream.writeAll(f.data);
  }
  // The last picture stays on the viewer's screen until it disconnects (or
  // the replay stops: close() closes the stream, which ends the drain).
  if (!signal.aborted) await drain;
}

/** Warns when the viewer's first message asks for another pixel format than the recording's. */
function warnPixelFormat(first: Uint8Array, plan: ReplayPlan): void {
  if (first[0] !== ClientMessageType.SetPixelFormat) return;
  const asked = first.subarray(4, 20);
  const recorded = plan.serverInit.subarray(4, 20);
  if (asked.every((b, i) => b === recorded[i])) return;
  logWarn(
    "replay: the viewer asked for another pixel format than the recording has; " +
      "colours will be wrong (record with the viewer you replay to, e.g. noVNC)",
    {
      recordedBpp: recorded[0],
      askedBpp: asked[0],
    },
  );
}

/** Options for {@linkcode startReplayServer}. */
export interface ReplayServerOptions {
  /** Listen address (default 127.0.0.1). */
  hostname?: string;
  /** Listen port; 0 = any free port. */
  port: number;
  /** Timing factor: 2 = twice as fast; 0 = no waiting at all. Default 1. */
  speed?: number;
  /** Accept from this listener instead of opening one on `hostname`:`port`. */
  listener?: Acceptor<Deno.Conn> & { readonly addr: Deno.Addr };
}

/** A running replay server. */
export interface ReplayServer {
  /** The address it listens on (with the real port when 0 was asked). */
  addr: Deno.NetAddr;
  /** Disconnects every viewer and stops listening. */
  close(): Promise<void>;
}

/** Serves `plan` to every viewer that connects. Throws when it cannot listen. */
export function startReplayServer(plan: ReplayPlan, options: ReplayServerOptions): ReplayServer {
  const listener = options.listener ?? Deno.listen({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port,
    transport: "tcp",
  });
  const stop = new AbortController();
  const streams = new Set<ByteStream>();
  const speed = options.speed ?? 1;
  const loop = acceptLoop(listener, async (conn) => {
    const stream = new DenoStream(conn);
    streams.add(stream);
    logInfo("replay: viewer connected", { client: stream.peer });
    try {
      await replayTo(stream, plan, speed, stop.signal);
    } catch (e) {
      if (!stop.signal.aborted && !(e instanceof RfbEndOfStream)) {
        logWarn("replay: viewer failed", { error: e instanceof Error ? e.message : String(e) });
      }
    } finally {
      stream.close();
      streams.delete(stream);
      logInfo("replay: viewer left", { client: stream.peer });
    }
  }, { name: "replay" });
  return {
    addr: listener.addr as Deno.NetAddr,
    async close() {
      stop.abort();
      loop.stop();
      for (const s of streams) s.close();
      await loop.finished;
    },
  };
}
