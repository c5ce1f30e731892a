/**
 * PROXY protocol v1/v2 headers (HAProxy's spec) sent to the target first, so
 * a VNC server that understands them learns the real client address
 * (`--proxy-protocol`; websockify #630 calls this impossible). Reading the
 * header a load balancer sends vncws is `proxy_protocol_in.ts`.
 * @module
 */
import { parseIp } from "./ip.ts";

/** One end of the proxied connection. */
export interface Endpoint {
  /** IP address text. */
  ip: string;
  /** TCP port (0 when unknown). */
  port: number;
}

/** The 12 bytes every v2 header starts with. */
export const V2_SIGNATURE: Uint8Array = new Uint8Array([
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
]);

function family(ip: string): { v4: boolean; bytes: Uint8Array } | undefined {
  const b = parseIp(ip);
  if (!b) return undefined;
  // parseIp gives 4 bytes for IPv4 and IPv4-mapped IPv6, 16 for IPv6.
  return { v4: b.length === 4, bytes: b };
}

/** Splits `1.2.3.4:5`, `[::1]:5` into an endpoint; undefined for unix peers. */
export function parseEndpoint(text: string): Endpoint | undefined {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(text);
  if (!m) return undefined;
  return { ip: m[1], port: Number(m[2]) };
}

/** The header for `version` 1 (text) or 2 (binary); UNKNOWN/LOCAL when the addresses do not fit. */
export function proxyHeader(version: 1 | 2, source?: Endpoint, dest?: Endpoint): Uint8Array {
  const s = source && family(source.ip);
  const d = dest && family(dest.ip);
  const known = s && d && s.v4 === d.v4;
  if (version === 1) {
    if (!known) return new TextEncoder().encode("PROXY UNKNOWN\r\n");
    const proto = s.v4 ? "TCP4" : "TCP6";
    const fmt = (f: { v4: boolean; bytes: Uint8Array }, ip: string) =>
      f.v4 ? [...f.bytes].join(".") : ip.replace(/^::ffff:/i, "");
    return new TextEncoder().encode(
      `PROXY ${proto} ${fmt(s, source!.ip)} ${fmt(d, dest!.ip)} ${source!.port} ${dest!.port}\r\n`,
    );
  }
  const addrLen = !known ? 0 : s.v4 ? 12 : 36;
  const out = new Uint8Array(16 + addrLen);
  out.set(V2_SIGNATURE);
  out[12] = known ? 0x21 : 0x20; // version 2, PROXY (or LOCAL)
  out[13] = !known ? 0x00 : s.v4 ? 0x11 : 0x21; // TCP over IPv4 / IPv6
  out[14] = addrLen >> 8;
  out[15] = addrLen & 0xff;
  if (known) {
    const n = s.v4 ? 4 : 16;
    out.set(s.bytes, 16);
    out.set(d.bytes, 16 + n);
    const p = 16 + 2 * n;
    out[p] = source!.port >> 8;
    out[p + 1] = source!.port & 0xff;
    out[p + 2] = dest!.port >> 8;
    out[p + 3] = dest!.port & 0xff;
  }
  return out;
}
