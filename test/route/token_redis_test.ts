import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { parseRedisSource, parseRedisValue, TokenRedis } from "../../src/route/token_redis.ts";
import { TokenBackendError } from "../../src/route/resolver.ts";
import { freePort, skipUnless } from "../../scripts/testing/util.ts";
import { addLogSink } from "../../src/base/log.ts";
import { startRedis as startTestRedis } from "../../scripts/testing/redis.ts";

const ignore = skipUnless("redis-server", "apt-get install redis-server");

async function startRedis(port: number, extra: string[] = []) {
  return (await startTestRedis(extra, port)).proc;
}

Deno.test("TokenRedis source syntax", () => {
  assert.deepEqual(parseRedisSource("redis.local"), {
    host: "redis.local",
    port: 6379,
    db: 0,
    password: undefined,
    namespace: undefined,
  });
  assert.deepEqual(parseRedisSource("h:6380:2:pw:ns"), {
    host: "h",
    port: 6380,
    db: 2,
    password: "pw",
    namespace: "ns",
  });
  assert.deepEqual(parseRedisSource("h:::verysecret"), {
    host: "h",
    port: 6379,
    db: 0,
    password: "verysecret",
    namespace: undefined,
  });
  assert.deepEqual(parseRedisSource('h::::"first:second"'), {
    host: "h",
    port: 6379,
    db: 0,
    password: undefined,
    namespace: "first:second",
  });
  assert.deepEqual(parseRedisSource('h:1:3:"p:w":'), {
    host: "h",
    port: 1,
    db: 3,
    password: "p:w",
    namespace: undefined,
  });
  for (const bad of ["", ":6379", "h:port", "h:1:x", "h:1:2:3:4:5", 'h:"open', 'h:"a"b']) {
    assert.throws(() => parseRedisSource(bad), /host\[:port/, bad);
  }
});

Deno.test("TokenRedis value formats", () => {
  assert.deepEqual(parseRedisValue('{"host": "127.0.0.1:5901"}').target, {
    kind: "tcp",
    hostname: "127.0.0.1",
    port: 5901,
  });
  assert.deepEqual(parseRedisValue('{"host": "h", "port": 5902}').target, {
    kind: "tcp",
    hostname: "h",
    port: 5902,
  });
  assert.deepEqual(parseRedisValue(" 127.0.0.1:5903\n").target, {
    kind: "tcp",
    hostname: "127.0.0.1",
    port: 5903,
  });
  assert.deepEqual(parseRedisValue("[::1]:5904").target, {
    kind: "tcp",
    hostname: "::1",
    port: 5904,
  });
  assert.deepEqual(parseRedisValue("unix_socket:/run/a.sock").target, {
    kind: "unix",
    path: "/run/a.sock",
  });
  assert.throws(() => parseRedisValue("{broken"));
  assert.throws(() => parseRedisValue('{"port": 1}'));
});

Deno.test({
  name: "TokenRedis against a real redis-server: namespace, db, password, JSON and plain values",
  ignore,
  async fn() {
    const port = freePort();
    const server = await startRedis(port, ["--requirepass", "pa:ss"]);
    const admin = new Redis({
      port,
      host: "127.0.0.1",
      password: "pa:ss",
      db: 3,
      lazyConnect: true,
    });
    try {
      await admin.connect();
      await admin.set("vnc:app:json", '{"host": "127.0.0.1:5901"}');
      await admin.set("vnc:app:plain", "[::1]:5902\n");
      await admin.set("vnc:app:garbage", "hello");
      await admin.set("plain", "127.0.0.1:5999");
      const r = new TokenRedis(`127.0.0.1:${port}:3:"pa:ss":"vnc:app"`);
      assert.deepEqual(await r.lookup("json"), { kind: "tcp", hostname: "127.0.0.1", port: 5901 });
      assert.deepEqual(await r.lookup("plain"), { kind: "tcp", hostname: "::1", port: 5902 });
      assert.equal(await r.lookup("garbage"), null);
      assert.equal(await r.lookup("missing"), null);
      // Changes are seen at once (no cache).
      await admin.set("vnc:app:json", "127.0.0.1:5905");
      assert.deepEqual(await r.lookup("json"), { kind: "tcp", hostname: "127.0.0.1", port: 5905 });
      await r.close();

      // Without namespace the key is the token itself.
      const bare = new TokenRedis(`127.0.0.1:${port}:3:"pa:ss"`);
      assert.deepEqual(await bare.lookup("plain"), {
        kind: "tcp",
        hostname: "127.0.0.1",
        port: 5999,
      });
      await bare.close();

      // Wrong password: the backend refuses, which is a backend error (503).
      const wrong = new TokenRedis(`127.0.0.1:${port}:3:nope`, { timeout: 2 });
      await assert.rejects(() => wrong.lookup("plain"), TokenBackendError);
      await wrong.close();
    } finally {
      admin.disconnect();
      await server.stop();
    }
  },
});

Deno.test({
  name: "TokenRedis: unreachable and stopped servers are TokenBackendError; recovers on restart",
  ignore,
  async fn() {
    const dead = new TokenRedis(`127.0.0.1:${freePort()}`, { timeout: 1 });
    await assert.rejects(() => dead.lookup("x"), TokenBackendError);
    await assert.rejects(() => dead.lookup("x"), TokenBackendError);
    await dead.close();

    const port = freePort();
    let server = await startRedis(port);
    const r = new TokenRedis(`127.0.0.1:${port}`, { timeout: 3 });
    try {
      const admin = new Redis({ port, host: "127.0.0.1" });
      await admin.set("t", "127.0.0.1:5901");
      admin.disconnect();
      assert.deepEqual(await r.lookup("t"), { kind: "tcp", hostname: "127.0.0.1", port: 5901 });
      await server.stop();
      await assert.rejects(() => r.lookup("t"), TokenBackendError);
      server = await startRedis(port);
      // Empty again (no persistence): the shared client reconnects and answers "unknown".
      assert.equal(await r.lookup("t"), null);
    } finally {
      await r.close();
      await server.stop();
    }
  },
});

Deno.test({
  name: "TokenRedis against a real redis-server: settings in JSON values; plain values have none",
  ignore,
  async fn() {
    const secret = "redis-Secret-7";
    const port = freePort();
    const server = await startRedis(port);
    const admin = new Redis({ port, host: "127.0.0.1", lazyConnect: true });
    const warnings: string[] = [];
    const remove = addLogSink((text, level) => level === "warn" && warnings.push(text));
    try {
      await admin.connect();
      await admin.set(
        "full",
        JSON.stringify({
          host: "127.0.0.1:5901",
          password: secret,
          username: "ann",
          view_only: "true",
          clipboard: "none",
          max_duration: 30,
          expires: 4102444800,
          note: "ignored",
        }),
      );
      await admin.set("json", '{"host": "127.0.0.1", "port": 5902}');
      await admin.set("plain", "127.0.0.1:5903");
      await admin.set("typo", JSON.stringify({ host: "127.0.0.1:5904", view_onyl: true }));
      await admin.set("badval", JSON.stringify({ host: "127.0.0.1:5905", password: 7 }));
      const r = new TokenRedis(`127.0.0.1:${port}`);
      try {
        assert.deepEqual(await r.lookupDetail("full"), {
          target: { kind: "tcp", hostname: "127.0.0.1", port: 5901 },
          settings: {
            password: secret,
            username: "ann",
            viewOnly: true,
            clipboard: "none",
            maxDuration: 30,
            expires: 4102444800,
          },
        });
        assert.deepEqual(await r.lookupDetail("json"), {
          target: { kind: "tcp", hostname: "127.0.0.1", port: 5902 },
        });
        assert.deepEqual(await r.lookupDetail("plain"), {
          target: { kind: "tcp", hostname: "127.0.0.1", port: 5903 },
        });
        // A misspelt or bad setting: the token does not resolve, and the warning says why.
        assert.equal(await r.lookupDetail("typo"), null);
        assert.equal(await r.lookupDetail("badval"), null);
        assert.equal(await r.lookup("typo"), null);
        assert.ok(warnings.some((w) => w.includes("did you mean view_only")), warnings.join("\n"));
        assert.ok(warnings.some((w) => w.includes("password must be")), warnings.join("\n"));
        assert.ok(!warnings.some((w) => w.includes(secret)));
      } finally {
        await r.close();
      }
    } finally {
      remove();
      admin.disconnect();
      await server.stop();
    }
  },
});

Deno.test("parseRedisValue: settings only in JSON values", () => {
  assert.deepEqual(parseRedisValue('{"host": "h:1", "view_only": true}').settings, {
    viewOnly: true,
  });
  assert.equal(parseRedisValue('{"host": "h:1", "name": "x"}').settings, undefined);
  // A plain value is a target only: words after it are not settings.
  assert.throws(() => parseRedisValue("h:1 view_only=true"));
});

Deno.test("parseRedisValue: a bad plain value's error never repeats the value", () => {
  const bad = [
    "127.0.0.1:5900 password=hunter2",
    "127.0.0.1:5900password=hunter2",
    "password=hunter2",
    "unix_socket:/run/v.sock password=hunter2",
    '{"host": "127.0.0.1:5900 password=hunter2"}',
    '{"host": "h", "port": "5900 password=hunter2"}',
    '{"host": {"password": "hunter2"}, "port": 5900}',
  ];
  for (const value of bad) {
    assert.throws(
      () => parseRedisValue(value),
      (e: Error) => !e.message.includes("hunter2") && e.message !== "",
      value,
    );
  }
  // Beside them, the good forms still parse.
  assert.deepEqual(parseRedisValue("127.0.0.1:5900").target, {
    kind: "tcp",
    hostname: "127.0.0.1",
    port: 5900,
  });
  assert.deepEqual(parseRedisValue('{"host": "h", "port": "5900", "password": "hunter2"}'), {
    target: { kind: "tcp", hostname: "h", port: 5900 },
    settings: { password: "hunter2" },
  });
});
