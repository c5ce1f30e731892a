import assert from "node:assert/strict";
import { clientAddress, requestedHost } from "../../src/auth/client_ip.ts";
import { head } from "./_head.ts";

const trusted = ["127.0.0.1", "10.0.0.0/8", "::1"];

Deno.test("untrusted peer: forwarding headers ignored", () => {
  const h = head("/", { "X-Forwarded-For": "1.1.1.1", Forwarded: "for=2.2.2.2" });
  assert.equal(clientAddress("203.0.113.5", h, trusted), "203.0.113.5");
  assert.equal(clientAddress("203.0.113.5", h, []), "203.0.113.5");
  assert.equal(clientAddress("::ffff:203.0.113.5", h, []), "203.0.113.5");
});

Deno.test("X-Forwarded-For: rightmost untrusted hop, spoofed left entries ignored", () => {
  const xff = (v: string) => head("/", { "X-Forwarded-For": v });
  assert.equal(clientAddress("127.0.0.1", xff("198.51.100.7"), trusted), "198.51.100.7");
  assert.equal(
    clientAddress("127.0.0.1", xff("6.6.6.6, 198.51.100.7, 10.1.1.1"), trusted),
    "198.51.100.7",
  );
  assert.equal(
    clientAddress("::ffff:127.0.0.1", xff("198.51.100.7:4444"), trusted),
    "198.51.100.7",
  );
  assert.equal(clientAddress("::1", xff("[2001:db8::5]:80"), trusted), "2001:db8::5");
  assert.equal(
    clientAddress("127.0.0.1", xff("10.2.2.2, 10.1.1.1"), trusted),
    "10.2.2.2",
    "all trusted: leftmost",
  );
  assert.equal(clientAddress("127.0.0.1", xff("garbage"), trusted), "127.0.0.1");
  assert.equal(clientAddress("127.0.0.1", xff("1.2.3.4, garbage, 10.1.1.1"), trusted), "10.1.1.1");
  assert.equal(clientAddress("127.0.0.1", xff(""), trusted), "127.0.0.1");
  // Two X-Forwarded-For headers are one list.
  const two = head("/", [["X-Forwarded-For", "6.6.6.6"], ["X-Forwarded-For", "198.51.100.9"]]);
  assert.equal(clientAddress("127.0.0.1", two, trusted), "198.51.100.9");
  assert.equal(clientAddress("127.0.0.1", head("/"), trusted), "127.0.0.1");
});

Deno.test("--forwarded-header forwarded: for= only; quoted v6, unknown, obfuscated", () => {
  const fwd = (v: string) => head("/", { Forwarded: v, "X-Forwarded-For": "9.9.9.9" });
  const address = (h: ReturnType<typeof fwd>) =>
    clientAddress("127.0.0.1", h, trusted, "forwarded");
  assert.equal(address(fwd("for=192.0.2.60;proto=https;by=203.0.113.43")), "192.0.2.60");
  assert.equal(address(fwd('for="[2001:db8:cafe::17]:4711"')), "2001:db8:cafe::17");
  assert.equal(address(fwd("for=6.6.6.6, For=192.0.2.43, for=10.0.0.9")), "192.0.2.43");
  assert.equal(address(fwd("for=unknown")), "127.0.0.1");
  assert.equal(address(fwd("for=_hidden, for=10.0.0.9")), "10.0.0.9");
  assert.equal(address(fwd("proto=https")), "127.0.0.1");
  // The X-Forwarded-For the client sent through is not read.
  assert.equal(address(head("/", { "X-Forwarded-For": "9.9.9.9" })), "127.0.0.1");
});

Deno.test("X-Forwarded-For by default: a Forwarded header the client sent is not read", () => {
  // nginx and HAProxy write X-Forwarded-For and pass the client's own Forwarded through.
  const h = head("/", { Forwarded: "for=203.0.113.9", "X-Forwarded-For": "198.51.100.7" });
  assert.equal(clientAddress("127.0.0.1", h, trusted), "198.51.100.7");
  assert.equal(
    clientAddress("127.0.0.1", head("/", { Forwarded: "for=203.0.113.9" }), trusted),
    "127.0.0.1",
  );
});

Deno.test("bad trusted-proxy entries are reported", () => {
  assert.throws(() => clientAddress("127.0.0.1", head("/"), ["10.0.0.0/99"]), /CIDR/);
});

Deno.test("requestedHost: Host, or a trusted proxy's forwarded host and scheme; others ignored", () => {
  const trusted = ["10.0.0.0/8"];
  // The test heads carry Host: vncws.test.
  const h = (headers: Record<string, string>) => head("/", headers);
  // An untrusted peer's forwarding headers say nothing.
  assert.deepEqual(
    requestedHost("203.0.113.1", h({ "X-Forwarded-Host": "evil.example" }), trusted),
    { host: "vncws.test" },
  );
  assert.deepEqual(
    requestedHost(
      "10.0.0.2",
      h({ "X-Forwarded-Host": "vnc.example, inner", "X-Forwarded-Proto": "HTTPS" }),
      trusted,
    ),
    { host: "vnc.example", proto: "https" },
  );
  // With --forwarded-header forwarded, RFC 7239's first element (nearest the client) only.
  const both = h({
    Forwarded: 'for=1.2.3.4;host="vnc.example:8443";proto=https, for=10.0.0.9;host=inner',
    "X-Forwarded-Host": "other.example",
  });
  assert.deepEqual(requestedHost("10.0.0.2", both, trusted, "forwarded"), {
    host: "vnc.example:8443",
    proto: "https",
  });
  assert.deepEqual(requestedHost("10.0.0.2", both, trusted).host, "other.example");
  // A trusted proxy that forwards nothing: its Host.
  assert.equal(requestedHost("10.0.0.2", h({}), trusted).host, "vncws.test");
  assert.deepEqual(requestedHost("unix", h({ "X-Forwarded-Host": "v" }), trusted).host, "v");
  assert.deepEqual(requestedHost("unix", h({ "X-Forwarded-Host": "v" }), []).host, "vncws.test");
});
