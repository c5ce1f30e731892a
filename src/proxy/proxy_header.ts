/**
 * The step before sniffing, for connections from a load balancer listed in
 * `--accept-proxy-protocol`: read its PROXY protocol header (v1 or v2,
 * within `--head-timeout`) and go on with a stream whose `peer` is the
 * client the header names, so every later step, log line and check sees the
 * client. A v2 LOCAL header (the balancer's health check) leaves the
 * balancer as the peer. Connections from any other peer are not read here;
 * one that starts with a header anyway is refused by the sniff
 * (`sniff.ts`), so nobody can name themselves someone else.
 * @module
 */
import { peerIp } from "../auth/client.ts";
import { CidrList } from "../auth/cidr.ts";
import { type Refusal, refusal } from "../auth/refusal.ts";
import { logDebug } from "../base/log.ts";
import { afterProxyHeader, readProxyHeader } from "../net/proxy_protocol_in.ts";
import type { ByteStream } from "../net/stream.ts";
import type { ProxyContext } from "./context.ts";

/** The `--accept-proxy-protocol` entry that lists unix-socket peers (`--unix-listen`). */
const UNIX_PEER = "unix";

/** The peers that must begin with a PROXY header: CIDR blocks, and unix-socket peers. */
export class ProxyHeaderPeers {
  readonly #cidrs: CidrList;
  readonly #unix: boolean;

  /**
   * Parses `entries` (CIDR blocks or bare addresses, comma-separated or not,
   * and `unix`); throws an Error naming a bad entry.
   */
  constructor(entries: readonly string[]) {
    const all = entries.flatMap((e) => e.split(",")).map((e) => e.trim()).filter((e) => e);
    this.#unix = all.includes(UNIX_PEER);
    try {
      this.#cidrs = new CidrList(all.filter((e) => e !== UNIX_PEER));
    } catch (e) {
      throw new Error(`${(e as Error).message}, or "${UNIX_PEER}" for unix-socket peers`);
    }
  }

  /** Whether no peer is listed. */
  get empty(): boolean {
    return !this.#unix && this.#cidrs.empty;
  }

  /** Whether the stream peer `peer` (`ip:port`, `[v6]:port`, `unix`) is listed. */
  has(peer: string): boolean {
    return peer === UNIX_PEER ? this.#unix : this.#cidrs.contains(peerIp(peer));
  }
}

/** Parsed once per configuration (the list is checked at start, so it parses here). */
const parsed = new WeakMap<readonly string[], ProxyHeaderPeers>();

function peersOf(entries: readonly string[]): ProxyHeaderPeers {
  let peers = parsed.get(entries);
  if (!peers) parsed.set(entries, peers = new ProxyHeaderPeers(entries));
  return peers;
}

/**
 * Step 0: for a listed peer, reads its PROXY header and resolves the stream
 * to go on with (naming the client); for any other peer, `stream` itself.
 * Resolves a refusal when a listed peer sends no valid header in time (it
 * is closed), and undefined when it left without sending anything (a
 * balancer's plain TCP health check) or vncws is stopping (logged).
 */
export async function acceptProxyHeader(
  stream: ByteStream,
  ctx: ProxyContext,
): Promise<ByteStream | Refusal | undefined> {
  const entries = ctx.config.acceptProxyProtocol;
  if (entries.length === 0 || !peersOf(entries).has(stream.peer)) return stream;
  const timeout = ctx.config.limits.headTimeout;
  const read = await readProxyHeader(stream, { timeoutMs: timeout * 1000, signal: ctx.stopping });
  const expected = "a PROXY protocol header (--accept-proxy-protocol lists this peer)";
  switch (read.kind) {
    case "header": {
      const next = afterProxyHeader(stream, read.header, read.rest);
      logDebug("PROXY header", {
        client: next.peer,
        via: stream.peer,
        version: read.header.version,
        command: read.header.local ? "LOCAL" : undefined,
      });
      return next;
    }
    case "invalid":
      return refusal("proxy_header", 400, `${read.reason}; expected ${expected}`);
    case "timeout":
      return refusal(
        "proxy_header",
        400,
        `no complete PROXY header within ${timeout}s (${read.got} bytes); expected ${expected}`,
      );
    case "closed":
      if (read.got > 0) {
        return refusal("proxy_header", 400, `closed after ${read.got} bytes of a PROXY header`);
      }
      logDebug("closed before its PROXY header (a health check?)", { client: stream.peer });
      return undefined;
    case "stopped":
      logDebug("closed a connection waiting for its PROXY header: vncws is stopping", {
        client: stream.peer,
      });
      return undefined;
  }
}
