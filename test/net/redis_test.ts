import assert from "node:assert/strict";
import { checked, parseRedisSource, redisEndpoint } from "../../src/net/redis.ts";

Deno.test("redisEndpoint: TokenRedis's source form and redis:// URLs", () => {
  assert.deepEqual(redisEndpoint("10.0.0.5", "--state-redis"), {
    url: "redis://10.0.0.5:6379/0",
    name: "10.0.0.5:6379",
  });
  assert.deepEqual(redisEndpoint('r.local:6380:2:"p@ss:w"', "--state-redis"), {
    url: "redis://:p%40ss%3Aw@r.local:6380/2",
    name: "r.local:6380",
  });
  assert.deepEqual(redisEndpoint('"::1":7000', "--state-redis").url, "redis://[::1]:7000/0");
  const url = "redis://:secret@10.0.0.5:6379/3";
  assert.deepEqual(redisEndpoint(url, "--state-redis"), { url, name: "10.0.0.5:6379" });
  assert.equal(redisEndpoint("rediss://h", "--state-redis").name, "h:6379");
});

Deno.test("redisEndpoint: what is wrong is named, never the password", () => {
  const cases: Array<[string, RegExp]> = [
    ["h:1:2:pw:ns", /no namespace/],
    ["h:port:0:pw", /bad port/],
    [":6379:0:pw", /host\[:port/],
    ['h:1:0:"pw', /unterminated/],
    ["redis://:pw@h/abc", /database number/],
    ["redis://:pw@", /not a valid redis:\/\/ URL|names no host/],
  ];
  for (const [src, why] of cases) {
    assert.throws(() => redisEndpoint(src, "--state-redis"), why, src);
    assert.throws(() => redisEndpoint(src, "--state-redis"), /--state-redis/, src);
    assert.throws(() => redisEndpoint(src, "--state-redis"), (e) => !/pw/.test(String(e)), src);
  }
  // TokenRedis keeps its namespace.
  assert.equal(parseRedisSource("h:1:2:pw:ns").namespace, "ns");
});

Deno.test("checked: a transaction's first error is thrown", () => {
  assert.deepEqual(checked([[null, 1], [null, "OK"]]), [1, "OK"]);
  assert.throws(() => checked([[null, 1], [new Error("WRONGTYPE"), null]]), /WRONGTYPE/);
  assert.throws(() => checked(null), /discarded/);
});
