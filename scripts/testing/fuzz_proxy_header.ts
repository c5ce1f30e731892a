/**
 * Fuzz properties for the inbound PROXY protocol parser
 * (src/net/proxy_protocol_in.ts): whatever the bytes, the parser answers
 * incomplete, invalid or a header that keeps every invariant, and never
 * throws; headers the outbound builder writes parse back to the same
 * addresses, and every shorter prefix of one is incomplete.
 * @module
 */
import fc from "fast-check";
import { applyEdits, type ByteEdit, byteEdits } from "./fuzz_edits.ts";
import { parseIp } from "../../src/net/ip.ts";
import { type Endpoint, proxyHeader, V2_SIGNATURE } from "../../src/net/proxy_protocol.ts";
import {
  MAX_HEADER,
  parseProxyHeader,
  type ProxyHeaderParse,
  V1_MAX,
} from "../../src/net/proxy_protocol_in.ts";

function fail(what: string, bytes: Uint8Array, r: unknown): never {
  throw new Error(`${what}: ${JSON.stringify(r)} for [${[...bytes].join(",")}]`);
}

/** A peer as the parser writes one: `ip:port`, `[v6]:port` or `unix`. */
function peerOk(peer: string): boolean {
  if (peer === "unix") return true;
  const m = /^(?:\[([0-9a-f:]+)\]|([0-9.]+)):(\d{1,5})$/.exec(peer);
  return m !== null && parseIp(m[1] ?? m[2]) !== undefined && Number(m[3]) <= 65535;
}

/**
 * Parses `bytes` and checks the invariants of the answer: a header fits in
 * the bytes and the version's bound, names a well-formed peer; bytes after
 * a header do not change it. Returns the answer.
 */
export function checkParse(bytes: Uint8Array): ProxyHeaderParse {
  const r = parseProxyHeader(bytes);
  if (r.status === "invalid") {
    if (typeof r.reason !== "string" || r.reason === "") fail("no reason", bytes, r);
    return r;
  }
  if (r.status === "incomplete") {
    if (bytes.length >= MAX_HEADER) fail("incomplete past the bound", bytes, r);
    return r;
  }
  const h = r.header;
  if (h.length > bytes.length || h.length < 15) fail("length out of range", bytes, r);
  if (h.version === 1 && h.length > V1_MAX) fail("v1 longer than 107", bytes, r);
  if (h.length > MAX_HEADER) fail("longer than the bound", bytes, r);
  if (h.source !== undefined && !peerOk(h.source)) fail("bad source", bytes, r);
  if (h.destination !== undefined && !peerOk(h.destination)) fail("bad destination", bytes, r);
  if (h.local && h.source !== undefined) fail("LOCAL with a source", bytes, r);
  const again = parseProxyHeader(bytes.subarray(0, h.length));
  if (JSON.stringify(again) !== JSON.stringify(r)) fail("the bytes after changed it", bytes, r);
  return r;
}

const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join("."));
const v6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((g) =>
  g.map((x) => x.toString(16)).join(":")
);
const port = fc.nat(65535);
const endpoints = fc.oneof(
  fc.tuple(v4, port, v4, port),
  fc.tuple(v6, port, v6, port),
).map(([sip, sport, dip, dport]): [Endpoint, Endpoint] => [
  { ip: sip, port: sport },
  { ip: dip, port: dport },
]);

/** Headers the builder writes (v1 and v2, IPv4 and IPv6, and LOCAL/UNKNOWN). */
const built = fc.tuple(fc.constantFrom(1 as const, 2 as const), fc.option(endpoints)).map((
  [version, ends],
) => ({ version, ends, bytes: proxyHeader(version, ends?.[0], ends?.[1]) }));

/** Built headers parse back to their endpoints; every shorter prefix is incomplete. */
export const proxyHeaderRoundTrip: fc.IPropertyWithHooks<
  [{ version: 1 | 2; ends: [Endpoint, Endpoint] | null; bytes: Uint8Array }, Uint8Array]
> = fc.property(built, fc.uint8Array({ maxLength: 40 }), ({ version, ends, bytes }, after) => {
  const all = new Uint8Array([...bytes, ...after]);
  const r = checkParse(all);
  if (r.status !== "header") fail("a built header did not parse", all, r);
  if (r.header.length !== bytes.length || r.header.version !== version) {
    fail("wrong length or version", all, r);
  }
  const expect = ends?.[0];
  const got = r.header.source;
  if (expect) {
    const ip = got?.startsWith("[") ? got.slice(1, got.lastIndexOf("]")) : got?.split(":")[0];
    const same = ip !== undefined &&
      parseIp(ip)?.join(".") === parseIp(expect.ip)?.join(".") &&
      got!.endsWith(`:${expect.port}`);
    if (!same) fail(`source is not ${expect.ip}:${expect.port}`, all, r);
  } else if (got !== undefined) fail("a source from LOCAL/UNKNOWN", all, r);
  for (let i = 0; i < bytes.length; i++) {
    const part = parseProxyHeader(bytes.subarray(0, i));
    if (part.status !== "incomplete") fail(`prefix of ${i} bytes`, bytes, part);
  }
});

/** Built headers with random byte edits (set, insert, delete). */
export const proxyHeaderMutated: fc.IPropertyWithHooks<
  [{ bytes: Uint8Array }, ByteEdit[]]
> = fc.property(
  built,
  byteEdits(6),
  ({ bytes }, edits) => void checkParse(applyEdits(bytes, edits)),
);

/** Random bytes, half of the time after `PROXY ` or the v2 signature. */
export const proxyHeaderRandomBytes: fc.IPropertyWithHooks<[Uint8Array, number]> = fc.property(
  fc.uint8Array({ maxLength: 1200 }),
  fc.nat(3),
  (bytes, start) => {
    const prefix = start === 0
      ? new TextEncoder().encode("PROXY ")
      : start === 1
      ? V2_SIGNATURE
      : new Uint8Array(0);
    checkParse(new Uint8Array([...prefix, ...bytes]));
  },
);
