/**
 * The PROXY protocol header a load balancer sends before its client's bytes
 * (HAProxy `send-proxy`/`send-proxy-v2`, nginx `proxy_protocol on;`, AWS
 * NLB): parsing v1 (text) and v2 (binary), reading it off a stream within a
 * deadline and a size bound, and the stream that then names the client the
 * header names (`--accept-proxy-protocol`). Sending one to the target is
 * `proxy_protocol.ts`.
 *
 * Bounds: a v1 header is at most 107 bytes (the spec's own limit, CRLF
 * included); a v2 header at most 16 + {@linkcode V2_MAX_BODY} bytes
 * (addresses and TLVs). TLVs are skipped, not interpreted.
 * @module
 */
import { formatHostPort } from "./address.ts";
import { formatIp, parseIp } from "./ip.ts";
import { V2_SIGNATURE } from "./proxy_protocol.ts";
import { type ByteStream, PrefixedStream, readBefore } from "./stream.ts";
import { STOPPED, TIMEOUT } from "../base/time.ts";

/** The longest v1 header, `PROXY … \r\n` included (the spec's limit). */
export const V1_MAX = 107;
/**
 * The most address and TLV bytes a v2 header may announce. Two unix
 * addresses take 216 bytes each; the TLVs AWS, Google Cloud, Azure and
 * HAProxy send (endpoint ids, TLS details, unique id) fit in the rest.
 */
export const V2_MAX_BODY = 1024;
/** The longest header of either version. */
export const MAX_HEADER: number = 16 + V2_MAX_BODY;

const V1_PREFIX = new TextEncoder().encode("PROXY ");

/** What a header says about the connection it came on. */
export interface ProxyHeader {
  /** 1 (text) or 2 (binary). */
  version: 1 | 2;
  /**
   * The client, as stream peers are written: `ip:port`, `[v6]:port`, or
   * `unix` (a v2 unix-socket client). Absent when the header names none
   * (v2 LOCAL, v1 UNKNOWN, v2 UNSPEC): the connection's own address stands.
   */
  source?: string;
  /** The address the client connected to (`ip:port`, `[v6]:port`), when named. */
  destination?: string;
  /** v2 LOCAL: the balancer's own connection (a health check), not a client's. */
  local: boolean;
  /** The header's size in bytes: the client's bytes start after it. */
  length: number;
}

/** What {@linkcode parseProxyHeader} made of the bytes so far. */
export type ProxyHeaderParse =
  /** A header could still start with these bytes: read more. */
  | { status: "incomplete" }
  /** A complete, valid header. */
  | { status: "header"; header: ProxyHeader }
  /** Not a header, or a broken one; `reason` says which, for the log. */
  | { status: "invalid"; reason: string };

/**
 * Parses a PROXY protocol header (v1 or v2) at the start of `bytes`. Pure and
 * total: any input gives one of the three answers, never an exception.
 */
export function parseProxyHeader(bytes: Uint8Array): ProxyHeaderParse {
  if (bytes.length === 0) return INCOMPLETE;
  if (bytes[0] === V1_PREFIX[0]) return parseV1(bytes);
  if (bytes[0] === V2_SIGNATURE[0]) return parseV2(bytes);
  return invalid('no PROXY protocol header (expected "PROXY " or the v2 signature)');
}

/**
 * Whether `bytes` begin with a PROXY protocol header's start (`PROXY ` or the
 * whole 12-byte v2 signature): what a client that is not a listed balancer
 * must not send.
 */
export function startsWithProxyHeader(bytes: Uint8Array): boolean {
  return hasPrefix(bytes, V1_PREFIX, V1_PREFIX.length) ||
    hasPrefix(bytes, V2_SIGNATURE, V2_SIGNATURE.length);
}

const INCOMPLETE: ProxyHeaderParse = { status: "incomplete" };

function invalid(reason: string): ProxyHeaderParse {
  return { status: "invalid", reason };
}

/** Whether `bytes` start with the first `n` bytes of `prefix` (false when shorter). */
function hasPrefix(bytes: Uint8Array, prefix: Uint8Array, n: number): boolean {
  if (bytes.length < n) return false;
  for (let i = 0; i < n; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

const PORT = /^(0|[1-9]\d{0,4})$/;

function parseV1(bytes: Uint8Array): ProxyHeaderParse {
  const seen = Math.min(bytes.length, V1_PREFIX.length);
  if (!hasPrefix(bytes, V1_PREFIX, seen)) return invalid("no PROXY protocol header");
  const lf = bytes.subarray(0, V1_MAX).indexOf(0x0a);
  if (lf < 0) {
    return bytes.length >= V1_MAX
      ? invalid(`PROXY v1 header longer than ${V1_MAX} bytes`)
      : INCOMPLETE;
  }
  if (lf === 0 || bytes[lf - 1] !== 0x0d) return invalid("PROXY v1 header not ended by CRLF");
  const line = bytes.subarray(0, lf - 1);
  // Printable ASCII only: the parts reach log lines.
  if (line.some((b) => b < 0x20 || b > 0x7e)) {
    return invalid("PROXY v1 header with a control or non-ASCII byte");
  }
  const parts = String.fromCharCode(...line).split(" ");
  const length = lf + 1;
  // UNKNOWN: whatever follows is to be ignored (the spec); the connection's addresses stand.
  if (parts[1] === "UNKNOWN") {
    return { status: "header", header: { version: 1, local: false, length } };
  }
  if (parts[1] !== "TCP4" && parts[1] !== "TCP6") {
    return invalid("PROXY v1 header with a protocol other than TCP4, TCP6 or UNKNOWN");
  }
  if (parts.length !== 6) return invalid("PROXY v1 header without exactly four fields");
  const v4 = parts[1] === "TCP4";
  const [src, dst] = [v1Address(parts[2], v4), v1Address(parts[3], v4)];
  if (src === undefined || dst === undefined) {
    return invalid(`PROXY v1 header with an address that is not ${v4 ? "IPv4" : "IPv6"}`);
  }
  if (!PORT.test(parts[4]) || !PORT.test(parts[5])) {
    return invalid("PROXY v1 header with a bad port");
  }
  const [sport, dport] = [Number(parts[4]), Number(parts[5])];
  if (sport > 65535 || dport > 65535) return invalid("PROXY v1 header with a bad port");
  return {
    status: "header",
    header: {
      version: 1,
      source: formatHostPort(src, sport),
      destination: formatHostPort(dst, dport),
      local: false,
      length,
    },
  };
}

/** An IPv4 (TCP4) or IPv6 (TCP6) address of a v1 header, canonical; undefined when it is not one. */
function v1Address(text: string, v4: boolean): string | undefined {
  // parseIp also takes brackets and zones, which a header never carries.
  if (!(v4 ? /^[0-9.]+$/ : /^[0-9A-Fa-f:.]+$/).test(text) || (!v4 && !text.includes(":"))) {
    return undefined;
  }
  const bytes = parseIp(text);
  return bytes ? formatIp(bytes) : undefined;
}

/** v2 address families: sizes of the address block (source, destination, ports). */
const INET = 0x1, INET6 = 0x2, UNIX = 0x3;
const ADDRESS_BYTES: Record<number, number> = { [INET]: 12, [INET6]: 36, [UNIX]: 216 };

function parseV2(bytes: Uint8Array): ProxyHeaderParse {
  const seen = Math.min(bytes.length, V2_SIGNATURE.length);
  if (!hasPrefix(bytes, V2_SIGNATURE, seen)) return invalid("no PROXY protocol header");
  if (bytes.length < 16) return INCOMPLETE;
  if (bytes[12] >> 4 !== 2) return invalid(`PROXY v2 header with version ${bytes[12] >> 4}`);
  const command = bytes[12] & 0x0f;
  if (command > 1) return invalid(`PROXY v2 header with an unknown command ${command}`);
  const family = bytes[13] >> 4;
  const protocol = bytes[13] & 0x0f;
  if (family > UNIX || protocol > 2) {
    return invalid(
      `PROXY v2 header with an unknown address family or protocol 0x${hex(bytes[13])}`,
    );
  }
  const body = (bytes[14] << 8) | bytes[15];
  if (body > V2_MAX_BODY) {
    return invalid(`PROXY v2 header announces ${body} bytes, more than the ${V2_MAX_BODY} allowed`);
  }
  if (bytes.length < 16 + body) return INCOMPLETE;
  const length = 16 + body;
  // LOCAL: the balancer's own connection; addresses, if any, are to be ignored.
  if (command === 0) return { status: "header", header: { version: 2, local: true, length } };
  // UNSPEC: no addresses given; the connection's own stand.
  if (family === 0) return { status: "header", header: { version: 2, local: false, length } };
  if (protocol !== 1) return invalid("PROXY v2 header for a protocol other than TCP (stream)");
  if (body < ADDRESS_BYTES[family]) return invalid("PROXY v2 header too short for its addresses");
  // A unix-socket client has no address to limit or ban by: served as the connection's own,
  // as UNSPEC is (as "unix" it would share one --max-per-ip key with every other such client).
  if (family === UNIX) return { status: "header", header: { version: 2, local: false, length } };
  const n = family === INET ? 4 : 16;
  const port = (at: number) => (bytes[at] << 8) | bytes[at + 1];
  const ip = (at: number) => formatIp(foldMapped(bytes.slice(at, at + n)));
  return {
    status: "header",
    header: {
      version: 2,
      source: formatHostPort(ip(16), port(16 + 2 * n)),
      destination: formatHostPort(ip(16 + n), port(18 + 2 * n)),
      local: false,
      length,
    },
  };
}

/** An IPv4-mapped IPv6 address as its 4 IPv4 bytes (as stream peers show them). */
function foldMapped(ip: Uint8Array): Uint8Array {
  if (ip.length !== 16) return ip;
  for (let i = 0; i < 10; i++) if (ip[i] !== 0) return ip;
  return ip[10] === 0xff && ip[11] === 0xff ? ip.slice(12) : ip;
}

function hex(b: number): string {
  return b.toString(16).padStart(2, "0");
}

/** What {@linkcode readProxyHeader} got. */
export type ProxyHeaderRead =
  /** A header; `rest` are the bytes read after it (the client's first bytes). */
  | { kind: "header"; header: ProxyHeader; rest: Uint8Array }
  /** Not a valid header (`reason` for the log). */
  | { kind: "invalid"; reason: string }
  /** No complete header within the deadline; `got` bytes had come. */
  | { kind: "timeout"; got: number }
  /** The peer closed after `got` bytes, before a complete header. */
  | { kind: "closed"; got: number }
  /** The stop signal fired while waiting. */
  | { kind: "stopped" };

/** Options for {@linkcode readProxyHeader}. */
export interface ReadProxyHeaderOptions {
  /** The whole header must arrive within this many ms. */
  timeoutMs: number;
  /** Ends the wait early (vncws stopping). */
  signal?: AbortSignal;
}

/**
 * Reads a PROXY protocol header from the start of `stream`, at most
 * {@linkcode MAX_HEADER} bytes at a time, all of it within `timeoutMs`.
 * Bytes read past the header come back as `rest`.
 */
export async function readProxyHeader(
  stream: ByteStream,
  options: ReadProxyHeaderOptions,
): Promise<ProxyHeaderRead> {
  const deadline = Date.now() + options.timeoutMs;
  const buf = new Uint8Array(MAX_HEADER);
  let len = 0;
  for (;;) {
    const r = await readBefore(stream, buf.subarray(len), deadline, options.signal);
    if (r === STOPPED) return { kind: "stopped" };
    if (r === TIMEOUT) return { kind: "timeout", got: len };
    if (r === null) return { kind: "closed", got: len };
    len += r;
    const parsed = parseProxyHeader(buf.subarray(0, len));
    if (parsed.status === "invalid") return { kind: "invalid", reason: parsed.reason };
    if (parsed.status === "header") {
      return { kind: "header", header: parsed.header, rest: buf.slice(parsed.header.length, len) };
    }
    // Incomplete with a full buffer cannot happen: the parser rules first.
    if (len === buf.length) return { kind: "invalid", reason: "PROXY header too long" };
  }
}

/**
 * A stream behind a load balancer: `peer` and `local` are the client and
 * the address it connected to, as the PROXY header named them; `via` is the
 * balancer. Everything above (logs, access lists, limits, bans, metrics,
 * the outbound header) reads `peer` and so sees the client.
 */
export class ProxiedStream extends PrefixedStream {
  readonly #peer: string;
  readonly #local?: string;

  /** `inner` is the balancer's connection, `rest` its bytes after the header. */
  constructor(inner: ByteStream, rest: Uint8Array, peer: string, local?: string) {
    super(inner, rest);
    this.#peer = peer;
    this.#local = local;
  }

  /** The client the header named. */
  override get peer(): string {
    return this.#peer;
  }
  /** The address the client connected to, as the header named it. */
  override get local(): string | undefined {
    return this.#local;
  }
  /** The load balancer's address (the connection's own peer). */
  get via(): string {
    return this.inner.peer;
  }
}

/**
 * The stream to go on with after `header` was read from `stream`: one that
 * names the header's client, or for LOCAL and UNKNOWN headers the
 * connection itself; `rest` (bytes read after the header) comes first.
 */
export function afterProxyHeader(
  stream: ByteStream,
  header: ProxyHeader,
  rest: Uint8Array,
): ByteStream {
  if (header.source !== undefined) {
    return new ProxiedStream(stream, rest, header.source, header.destination);
  }
  return rest.length > 0 ? new PrefixedStream(stream, rest) : stream;
}
