import assert from "node:assert/strict";
import { CidrList, parseCidr } from "../../src/auth/cidr.ts";
import { formatIp, normalizeIp, parseIp } from "../../src/net/ip.ts";

Deno.test("parseIp: v4, v6 forms, mapped, zone, brackets; invalid input", () => {
  assert.deepEqual(parseIp("10.1.2.3"), new Uint8Array([10, 1, 2, 3]));
  assert.deepEqual(parseIp("::ffff:10.1.2.3"), new Uint8Array([10, 1, 2, 3]));
  assert.deepEqual(parseIp("::FFFF:a01:203"), new Uint8Array([10, 1, 2, 3]));
  assert.equal(parseIp("::1")?.length, 16);
  assert.equal(formatIp(parseIp("[2001:DB8:0:0:0:0:0:1]")!), "2001:db8::1");
  assert.equal(formatIp(parseIp("fe80::1%eth0")!), "fe80::1");
  assert.equal(formatIp(parseIp("::")!), "::");
  assert.equal(formatIp(parseIp("1:0:0:2:0:0:0:3")!), "1:0:0:2::3");
  assert.equal(formatIp(parseIp("1:2:3:4:5:6:7:8")!), "1:2:3:4:5:6:7:8");
  assert.equal(formatIp(parseIp("64:ff9b::192.0.2.33")!), "64:ff9b::c000:221");
  for (
    const bad of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "256.1.1.1",
      "01.2.3.4",
      "1.2.3.-4",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7::8",
      ":1",
      "12345::",
      "g::1",
      "host.example",
      "::1.2.3",
    ]
  ) {
    assert.equal(parseIp(bad), undefined, bad);
  }
  assert.equal(normalizeIp("::ffff:127.0.0.1"), "127.0.0.1");
  assert.equal(normalizeIp("not-an-ip"), "not-an-ip");
});

Deno.test("parseCidr: prefixes, host bits masked, bad blocks refused", () => {
  assert.deepEqual(parseCidr("10.1.2.3/8"), { bytes: new Uint8Array([10, 0, 0, 0]), prefix: 8 });
  assert.deepEqual(parseCidr("192.168.1.77/26").bytes, new Uint8Array([192, 168, 1, 64]));
  assert.equal(parseCidr("1.2.3.4").prefix, 32);
  assert.equal(parseCidr("::1").prefix, 128);
  assert.deepEqual(parseCidr("::ffff:10.0.0.0/104"), {
    bytes: new Uint8Array([10, 0, 0, 0]),
    prefix: 8,
  });
  for (
    const bad of [
      "10.0.0.0/33",
      "::/129",
      "10.0.0.0/",
      "10.0.0.0/x",
      "/8",
      "x/8",
      "::ffff:0:0/95",
      "1.2.3.4/-1",
    ]
  ) {
    assert.throws(() => parseCidr(bad), Error, bad);
  }
});

Deno.test("CidrList: edges of v4 and v6 blocks, /0, mapped addresses, families never mix", () => {
  const l = new CidrList(["10.0.0.0/8", "192.168.1.64/26", "2001:db8::/32", "fe80::1"]);
  assert.ok(l.contains("10.0.0.0"));
  assert.ok(l.contains("10.255.255.255"));
  assert.ok(!l.contains("11.0.0.0"));
  assert.ok(!l.contains("9.255.255.255"));
  assert.ok(l.contains("192.168.1.64"));
  assert.ok(l.contains("192.168.1.127"));
  assert.ok(!l.contains("192.168.1.63"));
  assert.ok(!l.contains("192.168.1.128"));
  assert.ok(l.contains("::ffff:10.9.8.7"), "mapped address matches a v4 block");
  assert.ok(l.contains("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
  assert.ok(!l.contains("2001:db9::"));
  assert.ok(l.contains("fe80::1%eth0"));
  assert.ok(!l.contains("fe80::2"));
  assert.ok(!l.contains("garbage"));
  assert.ok(!l.contains(""));
  const all4 = new CidrList(["0.0.0.0/0"]);
  assert.ok(all4.contains("255.255.255.255") && all4.contains("::ffff:1.1.1.1"));
  assert.ok(!all4.contains("::1"), "v4 /0 does not match IPv6");
  const all6 = new CidrList(["::/0"]);
  assert.ok(all6.contains("::1") && !all6.contains("1.1.1.1"));
  const mapped = new CidrList(["::ffff:127.0.0.0/104"]);
  assert.ok(mapped.contains("127.0.0.1") && mapped.contains("::ffff:127.1.2.3"));
  assert.ok(new CidrList(["10.0.0.1, 10.0.0.2"]).contains("10.0.0.2"), "comma-separated entries");
  assert.ok(new CidrList([]).empty);
  assert.throws(() => new CidrList(["10.0.0.0/8", "nonsense"]), /nonsense/);
});
