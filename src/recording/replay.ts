/**
 * `vncws replay` (its command line is src/cli/replay.ts): serves a
 * `--record` recording (either format) as an RFB server, so a native VNC
 * viewer, or noVNC through `vncws 6080 127.0.0.1:P`, can watch the session
 * again. Every viewer that connects gets the whole recording from the start.
 *
 * How a replay works when the viewer is not the recorded client: the
 * viewer gets a handshake of its own, then the recorded ServerInit with the
 * pixel format the recorded client asked for (replay_plan.ts), then the
 * recorded updates with their timing (replay_server.ts). The viewer must
 * support the encodings the recorded client used (noVNC and TigerVNC
 * support all the usual ones) and accept the recorded pixel format: noVNC
 * always asks for 32 bpp true colour, so recordings made through noVNC
 * replay in noVNC, while a recording made with a native viewer in another
 * format shows wrong colours there (a warning is logged when the viewer asks
 * for a different format). Encrypted sessions (VeNCrypt, TLS) cannot be
 * replayed.
 *
 * Recordings contain secrets (typed passwords, clipboard): anyone who can
 * connect to the replay port sees everything the recorded server showed.
 * The replay listens on 127.0.0.1 unless `--host` says otherwise.
 * @module
 */
import { logInfo } from "../base/log.ts";
import { readRecording } from "./codec.ts";
import { planReplay, type ReplayPlan } from "./replay_plan.ts";
import { type ReplayServer, startReplayServer } from "./replay_server.ts";
import type { ReplayOptions } from "../config/replay.ts";

export type { ReplayOptions };

/** How {@linkcode serveReplay} is stopped and watched (tests; the CLI passes none). */
export interface RunReplayOptions {
  /** Stops the replay (instead of SIGINT/SIGTERM). */
  signal?: AbortSignal;
  /** Called once it listens. */
  onListen?: (addr: Deno.NetAddr) => void;
}

/** Resolves once `signal` is aborted, or without one at SIGINT/SIGTERM. */
function stopRequested(signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal) {
      if (signal.aborted) resolve();
      signal.addEventListener("abort", () => resolve(), { once: true });
      return;
    }
    const onSignal = () => {
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
      resolve();
    };
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
  });
}

/**
 * Serves the recording `options.file` until stopped. Resolves the exit
 * code: 0 after the stop, 1 for an unreadable recording or a port it cannot
 * listen on (the reason is written to stderr).
 */
export async function serveReplay(
  options: ReplayOptions,
  run: RunReplayOptions = {},
): Promise<number> {
  const { file, port, speed } = options;
  let plan: ReplayPlan;
  let files: string[];
  try {
    const rec = await readRecording(file);
    files = rec.files;
    plan = planReplay(rec);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? `${file} does not exist`
      : e instanceof Error
      ? e.message
      : String(e);
    console.error(`vncws replay: cannot replay ${file}: ${why}`);
    return 1;
  }
  let server: ReplayServer;
  try {
    server = startReplayServer(plan, { hostname: options.host, port, speed });
  } catch (e) {
    console.error(`vncws replay: cannot listen on port ${port}: ${(e as Error).message}`);
    return 1;
  }
  const last = plan.updates.at(-1)?.ms ?? 0;
  logInfo(`replay listening on ${server.addr.hostname}:${server.addr.port}`, {
    files: files.join(","),
    desktop: plan.name,
    size: `${plan.width}x${plan.height}`,
    seconds: Math.round(last / 100) / 10,
    speed,
  });
  run.onListen?.(server.addr);
  await stopRequested(run.signal);
  await server.close();
  logInfo("replay stopped");
  return 0;
}
