/**
 * Connecting to a target: TCP (every resolved address is tried), unix
 * sockets and TLS, with a timeout, as a {@linkcode ByteStream}.
 * @module
 */
import { formatTarget, type Target } from "./address.ts";
import { type ByteStream, DenoStream } from "./stream.ts";

/** Options for {@linkcode connectTarget}. */
export interface ConnectOptions {
  /** Give up after this many milliseconds. */
  timeoutMs?: number;
  /** TLS to a TCP target whose `tls` flag is set (`--ssl-target`); see src/net/tls_client.ts. */
  tls?: (tcp: Deno.TcpConn, servername: string) => Promise<ByteStream>;
}

/** A target connection failed; the message says why (for the 502 body and the log). */
export class ConnectError extends Error {}

function describeError(e: unknown): string {
  if (e instanceof Deno.errors.ConnectionRefused) return "connection refused";
  if (e instanceof Deno.errors.TimedOut) return "timed out";
  if (e instanceof Deno.errors.NotFound) return "not found";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  return e instanceof Error ? e.message : String(e);
}

async function withTimeout<T>(p: (signal: AbortSignal) => Promise<T>, ms: number): Promise<T> {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(new Deno.errors.TimedOut("timed out")), ms);
  try {
    return await p(ac.signal);
  } finally {
    clearTimeout(t);
  }
}

/** Connects to `target`; throws {@linkcode ConnectError} with a reason a person can act on. */
export async function connectTarget(
  target: Target,
  options: ConnectOptions = {},
): Promise<ByteStream> {
  const ms = options.timeoutMs ?? 10_000;
  if (target.kind === "unix") {
    try {
      const conn = await withTimeout(
        () => Deno.connect({ transport: "unix", path: target.path }),
        ms,
      );
      return new DenoStream(conn, { peer: "unix" });
    } catch (e) {
      throw new ConnectError(`cannot connect to ${formatTarget(target)}: ${describeError(e)}`);
    }
  }
  const hosts = [target.hostname, ...(target.alternates ?? [])];
  let last: unknown;
  for (const hostname of hosts) {
    try {
      const conn = await withTimeout(
        (signal) => Deno.connect({ hostname, port: target.port, signal }),
        ms,
      );
      conn.setNoDelay(true);
      if (target.tls) {
        if (!options.tls) throw new Error("TLS to the target is not configured");
        // A checked target connects to its addresses but verifies its name.
        return await options.tls(conn, target.name ?? target.hostname);
      }
      return new DenoStream(conn);
    } catch (e) {
      last = e;
    }
  }
  throw new ConnectError(`cannot connect to ${formatTarget(target)}: ${describeError(last)}`);
}
