/**
 * Small TCP targets for proxy tests: an echo server that speaks first (like
 * an RFB server) and a slow reader; and vncws started in front of one.
 * @module
 */
import { freePort, type Proc, startVncws } from "./util.ts";
import { sleep } from "../../src/base/time.ts";

/** A running target. */
export interface TestTarget {
  port: number;
  /** Bytes received so far (all connections). */
  received(): number;
  close(): Promise<void>;
}

/** Options for {@linkcode startEchoTarget}. */
export interface EchoOptions {
  /** Sent to each client first (default "RFB 003.008\n"). */
  banner?: string;
  /** Echo what arrives (default true). */
  echo?: boolean;
  /** Read this many bytes at a time with this delay between reads (slow reader). */
  slow?: { chunk: number; delayMs: number };
  /** Close each connection right after the banner. */
  closeAfterBanner?: boolean;
  /** Serve TLS with this PEM certificate and key (a `--ssl-target` target). */
  tls?: { cert: string; key: string };
}

/** Closes a connection (or listener) that may be closed already. */
export function closeQuietly(closable: { close(): void }): void {
  try {
    closable.close();
  } catch { /* closed already */ }
}

/** A TCP listener from {@linkcode listenTcp}. */
export interface TcpServer {
  port: number;
  /** Closes the open connections; keeps listening. */
  dropAll(): void;
  /** Stops listening and closes the open connections (again: does nothing). */
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1:0 and hands each connection to `handle`; when the
 * handler settles (a rejection counts as the peer going), the connection is
 * closed. Without a handler, connections are held open, unread, until
 * `dropAll()` or `close()`.
 */
export function listenTcp(
  handle?: (conn: Deno.Conn) => Promise<void>,
  options: { tls?: { cert: string; key: string } } = {},
): TcpServer {
  const listener = options.tls
    ? Deno.listenTls({ hostname: "127.0.0.1", port: 0, ...options.tls })
    : Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const dropAll = () => {
    for (const c of conns) closeQuietly(c);
    conns.clear();
  };
  const loop = (async () => {
    for await (const c of listener) {
      conns.add(c);
      handle?.(c).catch(() => {}).finally(() => {
        conns.delete(c);
        closeQuietly(c);
      });
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    dropAll,
    async close() {
      closeQuietly(listener);
      dropAll();
      await loop;
    },
  };
}

/** Starts an in-process TCP target on 127.0.0.1:0. */
export function startEchoTarget(options: EchoOptions = {}): TestTarget {
  let received = 0;
  const banner = new TextEncoder().encode(options.banner ?? "RFB 003.008\n");
  const server = listenTcp(async (conn) => {
    if (banner.length) await conn.write(banner);
    if (options.closeAfterBanner) return;
    const buf = new Uint8Array(options.slow?.chunk ?? 65536);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      received += n;
      if (options.echo !== false) {
        let off = 0;
        while (off < n) off += await conn.write(buf.subarray(off, n));
      }
      if (options.slow) await sleep(options.slow!.delayMs);
    }
  }, { tls: options.tls });
  return { port: server.port, received: () => received, close: server.close };
}

/** Options for {@linkcode startProxy}. */
export interface ProxyOptions {
  /** How the echo target behaves. */
  target?: EchoOptions;
  /** Passed to {@linkcode startVncws}. */
  vncws?: { env?: Record<string, string>; ready?: string | RegExp };
}

/** An echo target with vncws in front of it; `await using` stops both. */
export interface ProxyFixture {
  target: TestTarget;
  /** vncws's port on 127.0.0.1. */
  port: number;
  vncws: Proc;
  /** Stops vncws by PID, then closes the target. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts an echo target and vncws (`PORT 127.0.0.1:TARGET ...args`) on a free
 * port, for `await using p = await startProxy(["--heartbeat", "0.3"])`.
 */
export async function startProxy(
  args: string[] = [],
  options: ProxyOptions = {},
): Promise<ProxyFixture> {
  const target = startEchoTarget(options.target);
  const port = freePort();
  let vncws: Proc;
  try {
    vncws = await startVncws([String(port), `127.0.0.1:${target.port}`, ...args], options.vncws);
  } catch (e) {
    await target.close();
    throw e;
  }
  return {
    target,
    port,
    vncws,
    async [Symbol.asyncDispose]() {
      await vncws.stop();
      await target.close();
    },
  };
}
