/**
 * The connection pipeline in memory, for the tests of src/proxy/: a context
 * that records refusals and sessions, and one connection run through it.
 * Log lines go to {@linkcode logged}.
 * @module
 */
import type { Refusal } from "../../src/auth/refusal.ts";
import { configureLog } from "../../src/base/log.ts";
import { type Config, defaultConfig } from "../../src/config/config.ts";
import type { Target } from "../../src/net/address.ts";
import { memoryPair } from "../../src/net/memory_stream.ts";
import type { ByteStream } from "../../src/net/stream.ts";
import { handleConnection } from "../../src/proxy/connection.ts";
import type { Access, ProxyContext, SessionStart } from "../../src/proxy/context.ts";
import type { Route } from "../../src/route/router.ts";

/** Every log line written since the module was loaded. */
export const logged: string[] = [];
configureLog({ sink: (line) => logged.push(line) });
const enc = new TextEncoder();
const dec = new TextDecoder();
const TARGET: Target = { kind: "tcp", hostname: "127.0.0.1", port: 5900 };

/** Everything the other end receives until the stream ends. */
export async function readAll(stream: ByteStream): Promise<string> {
  const buf = new Uint8Array(4096);
  let text = "";
  for (;;) {
    const n = await stream.read(buf).catch(() => null);
    if (n === null) return text;
    text += dec.decode(buf.subarray(0, n));
  }
}

/** An admitted route to a fixed target. */
export function route(): Route {
  return { target: TARGET, address: "127.0.0.1", release: () => {} };
}

/** A context with `overrides`; refusals and sessions (their kinds, their starts) are recorded. */
export function context(
  overrides: Partial<Omit<ProxyContext, "config">> & { config?: Partial<Config> } = {},
): { ctx: ProxyContext; refused: Refusal[]; opened: string[]; starts: SessionStart[] } {
  const refused: Refusal[] = [];
  const opened: string[] = [];
  const starts: SessionStart[] = [];
  const access: Access = {
    route: () => Promise.resolve(route()),
    rawAllowed: true,
    clientAddress: () => "127.0.0.1",
    routeRaw: () => route(),
  };
  const ctx: ProxyContext = {
    access,
    connector: { connect: () => Promise.reject(new Error("no target in this test")) },
    signal: new AbortController().signal,
    ...overrides,
    config: { ...defaultConfig(), ...overrides.config },
    sessions: {
      openSession: (s) => {
        opened.push(s.kind);
        starts.push(s);
        return { end: () => {} };
      },
      refused: (r) => refused.push(r),
      connected: () => {},
    },
  };
  return { ctx, refused, opened, starts };
}

/**
 * Runs one connection from `peer` whose client sends `bytes` (nothing when
 * undefined), and then its FIN when `end`; resolves what it got.
 */
export async function run(
  ctx: ProxyContext,
  bytes?: Uint8Array | string,
  peer = "127.0.0.1:40000",
  end = false,
): Promise<string> {
  const [client, server] = memoryPair({ names: ["client", peer] });
  const done = handleConnection(server, ctx, 1);
  if (bytes !== undefined) {
    await client.writeAll(typeof bytes === "string" ? enc.encode(bytes) : bytes);
  }
  if (end) await client.closeWrite();
  const got = await readAll(client);
  await done;
  client.close();
  return got;
}

/** A valid WebSocket upgrade request. */
export const UPGRADE = "GET /websockify HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n" +
  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
  "Sec-WebSocket-Version: 13\r\n\r\n";
