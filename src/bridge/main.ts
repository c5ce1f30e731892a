/**
 * `vncws bridge`: a local TCP port (or unix socket, or stdio) bridged to a
 * remote WebSocket console. Listens and runs one session per accepted
 * connection; the command line is parsed in src/cli/bridge.ts.
 * @module
 */
import { formatHostPort } from "../net/address.ts";
import { DenoStream } from "../net/stream.ts";
import { openUnixListener } from "../net/unix_listener.ts";
import { logError, logInfo } from "../base/log.ts";
import { acceptLoop } from "../base/accept_loop.ts";
import { raceTimeout } from "../base/time.ts";
import type { BridgeConfig } from "../config/bridge.ts";
import { type BridgeContext, runSession, type SessionOutcome } from "./session.ts";
import { StdioStream } from "./stdio_stream.ts";
import type { BridgeTlsOptions } from "./transport.ts";
import { redactUrl } from "./ws_client.ts";

export type { BridgeTlsOptions };

/** How long shutdown waits for sessions to finish their close handshakes. */
const SHUTDOWN_GRACE_MS = 3000;

function describeListener(listener: Deno.Listener, config: BridgeConfig): string {
  if (config.listen.kind === "unix") return `unix:${config.listen.path}`;
  const a = listener.addr as Deno.NetAddr;
  return formatHostPort(a.hostname, a.port);
}

/**
 * Runs the bridge on a parsed configuration with its TLS files already read;
 * resolves the exit code (0 ok; 1 a connection failed with `--once` or
 * `--stdio`, or the listener could not open).
 */
export async function runBridge(config: BridgeConfig, tls: BridgeTlsOptions): Promise<number> {
  const ac = new AbortController();
  const onSignal = () => {
    logInfo("stopping");
    ac.abort();
  };
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  const ctx: BridgeContext = { config, tls, signal: ac.signal };
  let listener: Deno.Listener | undefined;
  let removeSocket: (() => void) | undefined;
  try {
    if (config.listen.kind === "stdio") {
      const outcome = await runSession(new StdioStream(), ctx);
      return outcome.opened ? 0 : 1;
    }
    try {
      if (config.listen.kind === "unix") {
        const unix = await openUnixListener(config.listen.path);
        listener = unix.listener;
        removeSocket = unix.removeSocket;
      } else {
        listener = Deno.listen({ hostname: config.listen.hostname, port: config.listen.port });
      }
    } catch (e) {
      const why = e instanceof Deno.errors.AddrInUse
        ? config.listen.kind === "unix"
          ? `${e.message}; stop the other program or choose another --unix-listen path`
          : "the address is already in use; stop the other program or choose another port"
        : e instanceof Deno.errors.PermissionDenied
        ? "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
        : e instanceof Error
        ? e.message
        : String(e);
      logError(`cannot listen: ${why}`);
      return 1;
    }
    logInfo(`bridge listening on ${describeListener(listener, config)}`, {
      url: config.url ? redactUrl(config.url) : "from --url-command",
      once: config.once || undefined,
    });
    return await serve(listener, ctx);
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
    try {
      listener?.close();
    } catch { /* already closed */ }
    // Only the socket this bridge made, never one another process put there since.
    removeSocket?.();
  }
}

/** Runs a session per connection until a signal (or, with `--once`, the first session's end). */
async function serve(listener: Deno.Listener, ctx: BridgeContext): Promise<number> {
  const peer = ctx.config.listen.kind === "unix" ? "unix" : undefined;
  let first: SessionOutcome | undefined;
  let taken = false;
  const loop = acceptLoop(listener, async (conn) => {
    const local = new DenoStream(conn, { peer });
    if (!ctx.config.once) {
      await runSession(local, ctx);
      return;
    }
    // No second connection: a single-use ticket could not serve it anyway.
    if (taken) return local.close();
    taken = true;
    loop.stop();
    first = await runSession(local, ctx);
  }, { name: "bridge" });
  const stopped = new Promise<void>((r) => ctx.signal.addEventListener("abort", () => r()));
  await Promise.race([stopped, loop.finished]);
  loop.stop();
  await raceTimeout(loop.finished, SHUTDOWN_GRACE_MS);
  return first && !first.opened ? 1 : 0;
}
