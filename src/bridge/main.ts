/**
 * `vncws bridge`: a local TCP port (or unix socket, or stdio) bridged to a
 * remote WebSocket console. Parses the command line, reads the TLS files,
 * listens, and runs one session per accepted connection.
 * @module
 */
import { formatHostPort } from "../net/address.ts";
import { DenoStream } from "../net/stream.ts";
import { message, PemReadError, readPem } from "../net/tls_files.ts";
import { configureLog, logError, logInfo } from "../base/log.ts";
import { BRIDGE_HELP, type BridgeConfig, BridgeUsageError, parseBridgeArgs } from "./options.ts";
import { type BridgeContext, runSession } from "./session.ts";
import { StdioStream } from "./stdio_stream.ts";
import type { BridgeTlsOptions } from "./transport.ts";
import { redactUrl } from "./ws_client.ts";

/** How long shutdown waits for sessions to finish their close handshakes. */
const SHUTDOWN_GRACE_MS = 3000;

async function readTlsFiles(config: BridgeConfig): Promise<BridgeTlsOptions> {
  const read = async (path: string | undefined, flag: string) => {
    if (path === undefined) return undefined;
    try {
      return await readPem(path, flag);
    } catch (e) {
      const why = e instanceof PemReadError ? e.reason : message(e);
      throw new BridgeUsageError(`cannot read ${flag} ${path}: ${why}; give a PEM file`);
    }
  };
  return {
    insecure: config.insecure,
    servername: config.sni,
    ca: await read(config.tlsFiles.ca, "--ca"),
    cert: await read(config.tlsFiles.cert, "--cert"),
    key: await read(config.tlsFiles.key, "--key"),
  };
}

/** Opens the unix listener, replacing a stale socket file nobody listens on. */
async function listenUnix(path: string): Promise<Deno.Listener> {
  try {
    if (Deno.lstatSync(path).isSocket) {
      try {
        const probe = await Deno.connect({ transport: "unix", path });
        probe.close();
        throw new Deno.errors.AddrInUse(`another program listens on ${path}`);
      } catch (e) {
        if (e instanceof Deno.errors.AddrInUse) throw e;
        Deno.removeSync(path); // stale: left by a process that died
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return Deno.listen({ transport: "unix", path });
}

function describeListener(listener: Deno.Listener, config: BridgeConfig): string {
  if (config.listen.kind === "unix") return `unix:${config.listen.path}`;
  const a = listener.addr as Deno.NetAddr;
  return formatHostPort(a.hostname, a.port);
}

/** Runs the bridge with its own argv (without "bridge"); resolves the exit code. */
export async function runBridge(argv: string[]): Promise<number> {
  let config: BridgeConfig;
  let tls: BridgeTlsOptions;
  try {
    const cmd = parseBridgeArgs(argv, Deno.env.toObject());
    if (cmd.kind === "help") {
      console.log(BRIDGE_HELP);
      return 0;
    }
    config = cmd.config;
    tls = await readTlsFiles(config);
  } catch (e) {
    if (e instanceof BridgeUsageError) {
      console.error(`vncws bridge: ${e.message}\nTry 'vncws bridge --help' for the options.`);
      return 2;
    }
    throw e;
  }
  configureLog({ verbose: config.verbose, format: config.logFormat });

  const ac = new AbortController();
  let listener: Deno.Listener | undefined;
  const onSignal = () => {
    logInfo("stopping");
    ac.abort();
    try {
      listener?.close();
    } catch { /* already closed */ }
  };
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  const ctx: BridgeContext = { config, tls, signal: ac.signal };
  try {
    if (config.listen.kind === "stdio") {
      const outcome = await runSession(new StdioStream(), ctx);
      return outcome.opened ? 0 : 1;
    }
    try {
      listener = config.listen.kind === "unix"
        ? await listenUnix(config.listen.path)
        : Deno.listen({ hostname: config.listen.hostname, port: config.listen.port });
    } catch (e) {
      const why = e instanceof Deno.errors.AddrInUse
        ? "the address is already in use; stop the other program or choose another port"
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
    return await acceptLoop(listener, ctx);
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
    try {
      listener?.close();
    } catch { /* already closed */ }
    if (config.listen.kind === "unix") {
      try {
        Deno.removeSync(config.listen.path);
      } catch { /* gone */ }
    }
  }
}

async function acceptLoop(listener: Deno.Listener, ctx: BridgeContext): Promise<number> {
  const active = new Set<Promise<unknown>>();
  for (;;) {
    let conn: Deno.Conn;
    try {
      conn = await listener.accept();
    } catch (e) {
      if (ctx.signal.aborted || e instanceof Deno.errors.BadResource) break;
      // Out of file descriptors and the like: wait a little rather than spin.
      logError("accept failed", { why: e instanceof Error ? e.message : String(e) });
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    const local = new DenoStream(conn, {
      peer: ctx.config.listen.kind === "unix" ? "unix" : undefined,
    });
    if (ctx.config.once) {
      // No second connection: a single-use ticket could not serve it anyway.
      listener.close();
      const outcome = await runSession(local, ctx);
      return outcome.opened ? 0 : 1;
    }
    const p = runSession(local, ctx).finally(() => active.delete(p));
    active.add(p);
  }
  if (active.size > 0) {
    await Promise.race([
      Promise.allSettled(active),
      new Promise((r) => setTimeout(r, SHUTDOWN_GRACE_MS)),
    ]);
  }
  return 0;
}
