/** The value parsers every subcommand shares. */
import assert from "node:assert/strict";
import {
  hostPort,
  listenAddress,
  number,
  octalMode,
  oneOf,
  port,
  seconds,
  size,
  UsageError,
  wholeNumber,
} from "../../src/cli/values.ts";

Deno.test("seconds, whole numbers and numbers: what they take and refuse", () => {
  assert.equal(seconds.parse("2.5", "--x"), 2.5);
  assert.equal(seconds.parse("0", "--x"), 0);
  for (const bad of ["", " ", "-1", "NaN", "Infinity", "1s", "x"]) {
    assert.throws(() => seconds.parse(bad, "--x"), /--x takes a number of seconds/, bad);
  }
  assert.equal(wholeNumber.parse("7", "--n"), 7);
  for (const bad of ["1.5", "-1", "", "1e3"]) {
    assert.throws(() => wholeNumber.parse(bad, "--n"), /--n takes a whole number/, bad);
  }
  assert.equal(number.parse("0.5", "--speed"), 0.5);
  assert.throws(() => number.parse("-2", "--speed"), UsageError);
});

Deno.test("sizes: 64K, 16M, 1G in, the same out", () => {
  assert.equal(size.parse("65536", "--s"), 65536);
  assert.equal(size.parse("64k", "--s"), 64 * 1024);
  assert.equal(size.parse("16MiB", "--s"), 16 * 1024 ** 2);
  assert.equal(size.parse("1G", "--s"), 1024 ** 3);
  assert.throws(() => size.parse("lots", "--max-message-size"), /--max-message-size takes a size/);
  assert.throws(() => size.parse("1T", "--s"), UsageError);
  assert.equal(size.show(64 * 1024 ** 2), "64M");
  assert.equal(size.show(16 * 1024), "16K");
  assert.equal(size.show(1500), "1500");
  assert.equal(size.show(0), "0");
  for (const n of [0, 1, 1024, 1536, 1024 ** 3]) assert.equal(size.parse(size.show(n), "--s"), n);
});

Deno.test("choices: aliases, case, and the message lists them", () => {
  const pp = oneOf(["v1", "v2"] as const, { aliases: { "1": "v1", "2": "v2" } });
  assert.equal(pp.parse("2", "--proxy-protocol"), "v2");
  assert.throws(() => pp.parse("v3", "--proxy-protocol"), /--proxy-protocol is v1 or v2, got "v3"/);
  const fo = oneOf(["SAMEORIGIN", "DENY", "none"] as const, { ignoreCase: true });
  assert.equal(fo.parse("deny", "--f"), "DENY");
  assert.equal(fo.parse("NONE", "--f"), "none");
  assert.throws(() => fo.parse("ALLOW", "--f"), /SAMEORIGIN, DENY or none/);
  assert.throws(() => oneOf(["a"] as const).parse("A", "--f"), /--f is a, got "A"/);
});

Deno.test("ports, addresses and modes", () => {
  assert.equal(port().parse("5900", "--port"), 5900);
  assert.throws(() => port().parse("0", "--port"), /1 to 65535/);
  assert.equal(port(true).parse("0", "--port"), 0);
  assert.throws(() => port(true).parse("65536", "--port"), /0 to 65535; 0 = any free one/);
  assert.deepEqual(listenAddress.parse("9180", "--metrics"), { hostname: "", port: 9180 });
  assert.throws(() => listenAddress.parse("x:y", "--metrics"), /--metrics: .*give \[addr:\]port/);
  assert.deepEqual(hostPort.parse("[::1]:5900", "--t"), { hostname: "::1", port: 5900 });
  assert.throws(() => hostPort.parse("5900", "--t"), /host:port/);
  assert.equal(octalMode.parse("0660", "--m"), 0o660);
  assert.equal(octalMode.show(0o600), "0600");
  assert.throws(() => octalMode.parse("0800", "--m"), /octal mode/);
});
