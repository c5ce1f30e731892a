/**
 * Reading the PROXY header a load balancer sends (src/net/proxy_protocol_in.ts):
 * v1 and v2 for TCP over IPv4 and IPv6, UNKNOWN, LOCAL, UNSPEC and unix;
 * broken, truncated, oversized and foreign input; the reader's bounds,
 * deadline and leftover bytes; the stream that then names the client.
 */
import assert from "node:assert/strict";
import { memoryPair } from "../../src/net/memory_stream.ts";
import { proxyHeader, V2_SIGNATURE } from "../../src/net/proxy_protocol.ts";
import {
  afterProxyHeader,
  MAX_HEADER,
  parseProxyHeader,
  ProxiedStream,
  type ProxyHeader,
  readProxyHeader,
  startsWithProxyHeader,
  V1_MAX,
  V2_MAX_BODY,
} from "../../src/net/proxy_protocol_in.ts";
import { PrefixedStream } from "../../src/net/stream.ts";

const enc = new TextEncoder();

function header(bytes: Uint8Array | string): ProxyHeader {
  const r = parseProxyHeader(typeof bytes === "string" ? enc.encode(bytes) : bytes);
  assert.equal(r.status, "header", JSON.stringify(r));
  return (r as { header: ProxyHeader }).header;
}

function invalidReason(bytes: Uint8Array | string): string {
  const r = parseProxyHeader(typeof bytes === "string" ? enc.encode(bytes) : bytes);
  assert.equal(r.status, "invalid", JSON.stringify(r));
  return (r as { reason: string }).reason;
}

function incomplete(bytes: Uint8Array | string): void {
  const r = parseProxyHeader(typeof bytes === "string" ? enc.encode(bytes) : bytes);
  assert.equal(r.status, "incomplete", JSON.stringify(r));
}

/** A v2 header: command byte, family/protocol byte, body. */
function v2(command: number, famProto: number, body: number[] | Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + body.length);
  out.set(V2_SIGNATURE);
  out[12] = command;
  out[13] = famProto;
  out[14] = body.length >> 8;
  out[15] = body.length & 0xff;
  out.set(body, 16);
  return out;
}

Deno.test("v1: TCP4 and TCP6 name the client and the address it reached", () => {
  const line = "PROXY TCP4 192.0.2.7 10.0.0.1 51000 6080\r\n";
  assert.deepEqual(header(line + "GET / HTTP/1.1\r\n"), {
    version: 1,
    source: "192.0.2.7:51000",
    destination: "10.0.0.1:6080",
    local: false,
    length: line.length,
  });
  const h6 = header("PROXY TCP6 2001:DB8:0:0::7 ::1 1 65535\r\n");
  assert.equal(h6.source, "[2001:db8::7]:1", "written canonically");
  assert.equal(h6.destination, "[::1]:65535");
  // A mapped IPv4 in TCP6 is the IPv4 address, as stream peers show it.
  assert.equal(header("PROXY TCP6 ::ffff:192.0.2.7 ::1 5 6\r\n").source, "192.0.2.7:5");
});

Deno.test("v1: UNKNOWN names nobody (the connection's address stands), whatever follows", () => {
  assert.deepEqual(header("PROXY UNKNOWN\r\n"), { version: 1, local: false, length: 15 });
  assert.equal(header("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n").source, undefined);
});

Deno.test("v1: broken lines are invalid, with a reason", () => {
  for (
    const bad of [
      "PROXY TCP4 192.0.2.7 10.0.0.1 51000\r\n", // a field missing
      "PROXY TCP4 192.0.2.7 10.0.0.1 51000 6080 x\r\n", // one too many
      "PROXY TCP4  192.0.2.7 10.0.0.1 51000 6080\r\n", // double space
      "PROXY TCP4 ::1 10.0.0.1 1 2\r\n", // IPv6 in TCP4
      "PROXY TCP6 192.0.2.7 ::1 1 2\r\n", // IPv4 in TCP6
      "PROXY TCP4 192.0.2.256 10.0.0.1 1 2\r\n",
      "PROXY TCP4 192.0.2.07 10.0.0.1 1 2\r\n", // leading zero
      "PROXY TCP6 [::1] ::1 1 2\r\n",
      "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
      "PROXY TCP4 192.0.2.7 10.0.0.1 65536 2\r\n",
      "PROXY TCP4 192.0.2.7 10.0.0.1 01 2\r\n",
      "PROXY TCP4 192.0.2.7 10.0.0.1 -1 2\r\n",
      "PROXY UDP4 192.0.2.7 10.0.0.1 1 2\r\n",
      "PROXY tcp4 192.0.2.7 10.0.0.1 1 2\r\n",
      "PROXY TCP4 192.0.2.7 10.0.0.1 1 2\n", // LF without CR
      "PROXY TCP4 192.0.2.7\x00 10.0.0.1 1 2\r\n",
      "PROXY TCP4 192.0.2.7 10.0.0.1 1 2\r\r\n",
      "PROXY \r\n",
      "PROXY\r\n",
      "\n",
    ]
  ) {
    assert.match(invalidReason(bad), /PROXY/, JSON.stringify(bad));
  }
});

Deno.test("v1: a line longer than 107 bytes is invalid; shorter partial lines want more", () => {
  const long = "PROXY UNKNOWN " + "x".repeat(V1_MAX);
  assert.match(invalidReason(long), /longer than 107 bytes/);
  // 107 bytes exactly, CRLF included, is the longest allowed.
  const max = "PROXY UNKNOWN " + "x".repeat(V1_MAX - 16) + "\r\n";
  assert.equal(max.length, V1_MAX);
  assert.equal(header(max).length, V1_MAX);
  assert.match(invalidReason("PROXY UNKNOWN " + "x".repeat(V1_MAX - 15) + "\r\n"), /longer/);
  const line = "PROXY TCP4 192.0.2.7 10.0.0.1 51000 6080\r\n";
  for (let i = 1; i < line.length; i++) incomplete(line.slice(0, i));
});

Deno.test("v2: TCP over IPv4 and IPv6 name the client; TLVs are skipped", () => {
  const four = proxyHeader(2, { ip: "192.0.2.7", port: 51000 }, { ip: "10.0.0.1", port: 6080 });
  assert.deepEqual(header(four), {
    version: 2,
    source: "192.0.2.7:51000",
    destination: "10.0.0.1:6080",
    local: false,
    length: 28,
  });
  const six = proxyHeader(2, { ip: "2001:db8::7", port: 1 }, { ip: "::1", port: 2 });
  assert.equal(header(six).source, "[2001:db8::7]:1");
  assert.equal(header(six).destination, "[::1]:2");
  // Addresses followed by TLVs (an AWS endpoint id), and bytes after the header.
  const tlv = [0xea, 0x00, 0x05, 0x01, 0x76, 0x70, 0x63, 0x65];
  const body = [...four.subarray(16), ...tlv];
  const withTlv = v2(0x21, 0x11, body);
  const h = header(new Uint8Array([...withTlv, 0x16, 0x03]));
  assert.equal(h.source, "192.0.2.7:51000");
  assert.equal(h.length, withTlv.length, "the client's bytes start after the TLVs");
});

Deno.test("v2: LOCAL (a health check), UNSPEC and unix; the balancer stays the peer for the first two", () => {
  assert.deepEqual(header(v2(0x20, 0x00, [])), { version: 2, local: true, length: 16 });
  // LOCAL with addresses: they are ignored.
  const ignored = v2(0x20, 0x11, new Array(12).fill(1));
  assert.deepEqual(header(ignored), { version: 2, local: true, length: 28 });
  assert.deepEqual(header(v2(0x21, 0x00, [])), { version: 2, local: false, length: 16 });
  // A unix-socket source names no address: served as the connection's own, as UNSPEC is.
  assert.deepEqual(header(v2(0x21, 0x31, new Array(216).fill(0x61))), {
    version: 2,
    local: false,
    length: 232,
  });
  // The builder's own LOCAL, for addresses that do not fit.
  assert.equal(header(proxyHeader(2)).local, true);
});

Deno.test("v2: broken headers are invalid, with a reason", () => {
  const cases: Array<[Uint8Array, RegExp]> = [
    [v2(0x11, 0x11, new Array(12).fill(0)), /version 1/],
    [v2(0x22, 0x11, new Array(12).fill(0)), /unknown command/],
    [v2(0x21, 0x41, new Array(12).fill(0)), /family or protocol/],
    [v2(0x21, 0x13, new Array(12).fill(0)), /family or protocol/],
    [v2(0x21, 0x12, new Array(12).fill(0)), /other than TCP/], // UDP
    [v2(0x21, 0x10, new Array(12).fill(0)), /other than TCP/],
    [v2(0x21, 0x11, new Array(11).fill(0)), /too short/],
    [v2(0x21, 0x21, new Array(12).fill(0)), /too short/],
    [v2(0x21, 0x31, new Array(215).fill(0)), /too short/],
  ];
  for (const [bytes, reason] of cases) assert.match(invalidReason(bytes), reason);
  // A wrong signature byte anywhere.
  for (let i = 0; i < 12; i++) {
    const b = v2(0x21, 0x00, []);
    b[i] ^= 0x40;
    assert.equal(parseProxyHeader(b).status, "invalid", `signature byte ${i}`);
  }
});

Deno.test("v2: a body over the cap is invalid before it is read; partial headers want more", () => {
  const big = v2(0x21, 0x11, new Array(12).fill(0));
  big[14] = (V2_MAX_BODY + 1) >> 8;
  big[15] = (V2_MAX_BODY + 1) & 0xff;
  assert.match(invalidReason(big.subarray(0, 16)), /more than the 1024 allowed/);
  const most = v2(0x21, 0x11, new Array(V2_MAX_BODY).fill(0));
  assert.equal(most.length, MAX_HEADER);
  assert.equal(header(most).length, MAX_HEADER);
  for (let i = 1; i < most.length; i += 97) incomplete(most.subarray(0, i));
});

Deno.test("garbage, HTTP and TLS are not headers; only a whole start counts as one", () => {
  assert.match(invalidReason("GET / HTTP/1.1\r\n"), /no PROXY protocol header/);
  assert.match(invalidReason(new Uint8Array([0x16, 3, 1])), /no PROXY protocol header/);
  assert.match(invalidReason("PROXX TCP4"), /no PROXY protocol header/);
  incomplete("");
  assert.equal(startsWithProxyHeader(enc.encode("PROXY TCP4 1.2.3.4")), true);
  assert.equal(startsWithProxyHeader(V2_SIGNATURE), true);
  assert.equal(startsWithProxyHeader(enc.encode("PROXY")), false);
  assert.equal(startsWithProxyHeader(V2_SIGNATURE.subarray(0, 11)), false);
  assert.equal(startsWithProxyHeader(enc.encode("GET / HTTP/1.1")), false);
  assert.equal(startsWithProxyHeader(enc.encode("\r\n\r\n")), false);
});

Deno.test("read: a header split into pieces; the bytes after it come back as rest", async () => {
  const [a, b] = memoryPair({ names: ["lb", "10.0.0.2:40000"] });
  const line = enc.encode("PROXY TCP4 192.0.2.7 10.0.0.1 51000 6080\r\nRFB 003.008\n");
  const reading = readProxyHeader(b, { timeoutMs: 5000 });
  for (let i = 0; i < line.length; i += 9) await a.writeAll(line.subarray(i, i + 9));
  const r = await reading;
  assert.equal(r.kind, "header");
  if (r.kind !== "header") return;
  assert.equal(r.header.source, "192.0.2.7:51000");
  // Whatever the split, the rest is what followed the header in the last read.
  const next = afterProxyHeader(b, r.header, r.rest);
  await a.writeAll(enc.encode("more"));
  a.closeWrite();
  const got: number[] = [];
  const buf = new Uint8Array(64);
  for (let n; (n = await next.read(buf)) !== null;) got.push(...buf.subarray(0, n));
  assert.equal(new TextDecoder().decode(new Uint8Array(got)), "RFB 003.008\nmore");
  a.close();
  b.close();
});

Deno.test("read: invalid, closed midway, closed at once, timed out, stopped", async () => {
  const cases: Array<[string | undefined, boolean, string]> = [
    ["GET / HTTP/1.1\r\n\r\n", false, "invalid"],
    ["PROXY TCP4 192.0.2.7", true, "closed"],
    ["", true, "closed"],
    ["PROXY TCP4 192.0.2.7", false, "timeout"],
  ];
  for (const [send, close, kind] of cases) {
    const [a, b] = memoryPair();
    const reading = readProxyHeader(b, { timeoutMs: 100 });
    if (send) await a.writeAll(enc.encode(send));
    if (close) a.closeWrite();
    const r = await reading;
    assert.equal(r.kind, kind, JSON.stringify(send));
    if (r.kind === "closed" || r.kind === "timeout") assert.equal(r.got, send!.length);
    a.close();
    b.close();
  }
  const [a, b] = memoryPair();
  const stop = new AbortController();
  const reading = readProxyHeader(b, { timeoutMs: 60_000, signal: stop.signal });
  stop.abort();
  assert.equal((await reading).kind, "stopped");
  a.close();
  b.close();
});

Deno.test("read: a sender that never ends its v1 line is cut at 107 bytes", async () => {
  const [a, b] = memoryPair();
  const reading = readProxyHeader(b, { timeoutMs: 5000 });
  await a.writeAll(enc.encode("PROXY TCP4 " + "1".repeat(200)));
  const r = await reading;
  assert.equal(r.kind, "invalid");
  a.close();
  b.close();
});

Deno.test("the stream after the header: the client as peer, the balancer as via", () => {
  const [, b] = memoryPair({ names: ["lb", "10.0.0.2:40000"] });
  const h = header("PROXY TCP6 2001:db8::7 2001:db8::1 5 6080\r\n");
  const s = afterProxyHeader(b, h, new Uint8Array(0));
  assert.ok(s instanceof ProxiedStream);
  assert.equal(s.peer, "[2001:db8::7]:5");
  assert.equal(s.local, "[2001:db8::1]:6080");
  assert.equal((s as ProxiedStream).via, "10.0.0.2:40000");
  // LOCAL and UNKNOWN: the connection itself (with the bytes after the header first).
  assert.equal(afterProxyHeader(b, header(v2(0x20, 0, [])), new Uint8Array(0)), b);
  const rest = afterProxyHeader(b, header("PROXY UNKNOWN\r\n"), new Uint8Array([1]));
  assert.ok(rest instanceof PrefixedStream && !(rest instanceof ProxiedStream));
  assert.equal(rest.peer, "10.0.0.2:40000");
  b.close();
});
