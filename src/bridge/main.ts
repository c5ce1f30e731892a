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

/** A bridge listening on TCP or a unix socket: {@linkcode startBridge}'s answer. */
export interface BridgeHandle {
  /** The local listening address. */
  readonly addr: Deno.Addr;
  /** Stops accepting and ends the sessions (close handshakes get a short grace). */
  close(): Promise<void>;
  /** Resolves the exit code once stopped (1 when `--once`'s session failed to open). */
  readonly finished: Promise<number>;
}

/** Why the bridge cannot listen, and what to do. */
function listenFailure(e: unknown, config: BridgeConfig): string {
  return e instanceof Deno.errors.AddrInUse
    ? config.listen.kind === "unix"
      ? `${e.message}; stop the other program or choose another --unix-listen path`
      : "the address is already in use; stop the other program or choose another port"
    : e instanceof Deno.errors.PermissionDenied
    ? "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
    : e instanceof Error
    ? e.message
    : String(e);
}

/**
 * Starts the bridge on TCP or a unix socket (not stdio) with its TLS files
 * already read: the construction the command and the library share.
 * Signals are the caller's. Rejects with what to do when it cannot listen.
 */
export async function startBridge(
  config: BridgeConfig,
  tls: BridgeTlsOptions,
): Promise<BridgeHandle> {
  const ac = new AbortController();
  const ctx: BridgeContext = { config, tls, signal: ac.signal };
  let listener: Deno.Listener;
  let removeSocket: (() => void) | undefined;
  try {
    if (config.listen.kind === "unix") {
      const unix = await openUnixListener(config.listen.path);
      listener = unix.listener;
      removeSocket = unix.removeSocket;
    } else if (config.listen.kind === "tcp") {
      listener = Deno.listen({ hostname: config.listen.hostname, port: config.listen.port });
    } else {
      throw new Error("stdio is served by runBridge only");
    }
  } catch (e) {
    throw new Error(`cannot listen: ${listenFailure(e, config)}`);
  }
  logInfo(`bridge listening on ${describeListener(listener, config)}`, {
    url: config.url ? redactUrl(config.url) : "from --url-command",
    once: config.once || undefined,
  });
  const finished = (async () => {
    try {
      return await serve(listener, ctx);
    } finally {
      try {
        listener.close();
      } catch { /* already closed */ }
      // Only the socket this bridge made, never one another process put there since.
      removeSocket?.();
    }
  })();
  return {
    addr: listener.addr,
    finished,
    async close() {
      ac.abort();
      await finished;
    },
  };
}

/**
 * Runs the bridge on a parsed configuration with its TLS files already read;
 * resolves the exit code (0 ok; 1 a connection failed with `--once` or
 * `--stdio`, or the listener could not open).
 */
export async function runBridge(config: BridgeConfig, tls: BridgeTlsOptions): Promise<number> {
  if (config.listen.kind === "stdio") {
    const ac = new AbortController();
    return await withSignals(() => ac.abort(), async () => {
      const outcome = await runSession(new StdioStream(), { config, tls, signal: ac.signal });
      return outcome.opened ? 0 : 1;
    });
  }
  let bridge: BridgeHandle;
  try {
    bridge = await startBridge(config, tls);
  } catch (e) {
    logError(e instanceof Error ? e.message : String(e));
    return 1;
  }
  return await withSignals(() => void bridge.close(), () => bridge.finished);
}

/** Runs `fn` with SIGINT/SIGTERM calling `stop`. */
async function withSignals(stop: () => void, fn: () => Promise<number>): Promise<number> {
  const onSignal = () => {
    logInfo("stopping");
    stop();
  };
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  try {
    return await fn();
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
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
