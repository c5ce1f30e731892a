/**
 * Bans against the real vncws process: failures from one client address
 * start a ban (429 + Retry-After, a log line, metrics), the ban ends on its
 * own, a spoofed X-Forwarded-For from an untrusted peer neither bans
 * someone else nor dodges the ban, a trusted proxy is never banned for its
 * clients, and with --ban-redis two replicas count and ban together.
 * Clients connect from chosen loopback addresses (127.0.0.x) with node:net.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { startEchoTarget } from "../../scripts/testing/targets.ts";
import {
  freePort,
  type Proc,
  skipUnless,
  startVncws,
  tempDir,
} from "../../scripts/testing/util.ts";
import { upgradeRequest } from "../../scripts/testing/ws_client.ts";
import { startRedis } from "../../scripts/testing/redis.ts";

/** Sends a WebSocket upgrade from `source` to vncws; resolves the response head. */
function upgrade(
  source: string,
  port: number,
  token: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; head: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port, localAddress: source });
    let got = "";
    const done = () => {
      socket.destroy();
      const head = got.split("\r\n\r\n")[0];
      resolve({ status: Number(head.slice(9, 12)), head });
    };
    socket.on(
      "connect",
      () => socket.write(upgradeRequest(port, { path: `/websockify?token=${token}`, headers })),
    );
    socket.on("data", (b: Uint8Array) => {
      got += new TextDecoder().decode(b);
      if (got.includes("\r\n\r\n")) done();
    });
    socket.on("end", done);
    socket.on("error", reject);
  });
}

async function metric(port: number, line: RegExp): Promise<string | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text.split("\n").find((l) => line.test(l));
}

async function withTokens(
  args: string[],
  fn: (port: number, metrics: number, vncws: Proc) => Promise<void>,
): Promise<void> {
  const target = startEchoTarget();
  using dir = tempDir();
  const tokens = `${dir.path}/tokens`;
  Deno.writeTextFileSync(tokens, `good: 127.0.0.1:${target.port}\n`);
  const port = freePort();
  const metrics = freePort();
  const vncws = await startVncws([
    "--token-plugin",
    "TokenFile",
    "--token-source",
    tokens,
    "--metrics",
    `127.0.0.1:${metrics}`,
    ...args,
    `127.0.0.1:${port}`,
  ]);
  try {
    await fn(port, metrics, vncws);
  } finally {
    await vncws.stop();
    await target.close();
  }
}

Deno.test({
  name:
    "bans: N failures ban an address (429, Retry-After), then the ban ends; XFF is not believed",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const args = ["--ban-after", "3", "--ban-window", "60", "--ban-time", "2"];
    await withTokens(args, async (port, metrics, vncws) => {
      // The attacker at 127.0.0.2 names 127.0.0.3 in a header no trusted proxy added.
      const spoof = { "X-Forwarded-For": "127.0.0.3" };
      assert.equal((await upgrade("127.0.0.2", port, "nope1", spoof)).status, 404);
      assert.equal((await upgrade("127.0.0.2", port, "nope2", spoof)).status, 404);
      // Two failures: not banned yet.
      assert.equal((await upgrade("127.0.0.2", port, "good", spoof)).status, 101);
      assert.equal((await upgrade("127.0.0.2", port, "nope3", spoof)).status, 404);
      await vncws.waitFor(/ban start .*client=127\.0\.0\.2/);
      const banned = await upgrade("127.0.0.2", port, "good", { "X-Forwarded-For": "10.1.1.1" });
      assert.equal(banned.status, 429, "another X-Forwarded-For does not dodge the ban");
      assert.match(banned.head, /\r\nRetry-After: [12]\r\n/);
      // The address the attacker named is not banned.
      assert.equal((await upgrade("127.0.0.3", port, "good")).status, 101);
      assert.match((await metric(metrics, /^vncws_bans_active /))!, / 1$/);
      assert.match(
        (await metric(metrics, /^vncws_auth_failures_total\{kind="unknown_token"\}/))!,
        / 3$/,
      );
      // The ban ends by itself, with a log line.
      await vncws.waitFor(/ban end .*client=127\.0\.0\.2/, 10000);
      assert.equal((await upgrade("127.0.0.2", port, "good")).status, 101);
      assert.match((await metric(metrics, /^vncws_bans_active /))!, / 0$/);
    });
  },
});

Deno.test({
  name: "bans: behind a trusted proxy the named client is banned, never the proxy",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const args = ["--ban-after", "2", "--ban-time", "60", "--trusted-proxy", "127.0.0.4"];
    await withTokens(args, async (port, _metrics, vncws) => {
      const from = (client: string) => ({ "X-Forwarded-For": client });
      // The client also sends its own Forwarded header, which the proxy passes through: a
      // different "client" each time, to dodge the ban. Only X-Forwarded-For is read.
      const dodge = (n: number) => ({ ...from("198.51.100.7"), Forwarded: `for=203.0.113.${n}` });
      assert.equal((await upgrade("127.0.0.4", port, "x", dodge(1))).status, 404);
      assert.equal((await upgrade("127.0.0.4", port, "y", dodge(2))).status, 404);
      await vncws.waitFor(/ban start .*client=198\.51\.100\.7/);
      assert.equal((await upgrade("127.0.0.4", port, "good", dodge(3))).status, 429);
      // Other clients of the same proxy, and the proxy itself, go on.
      assert.equal((await upgrade("127.0.0.4", port, "good", from("198.51.100.8"))).status, 101);
      assert.equal((await upgrade("127.0.0.4", port, "good")).status, 101);
      // Failures through the proxy without a client named never ban the proxy.
      for (const t of ["a", "b", "c"]) {
        assert.equal((await upgrade("127.0.0.4", port, t)).status, 404);
      }
      assert.equal((await upgrade("127.0.0.4", port, "good")).status, 101);
    });
  },
});

Deno.test({
  name: "bans: with --ban-redis two replicas count failures together and share the ban",
  ignore: skipUnless("redis-server", "apt-get install redis-server"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const redis = await startRedis();
    const shared = ["--ban-after", "3", "--ban-time", "60", "--ban-redis"];
    const url = `redis://127.0.0.1:${redis.port}/0`;
    try {
      await withTokens([...shared, url], async (a) => {
        await withTokens([...shared, url], async (b, _m, vncwsB) => {
          // Spread over the replicas: two failures on A, one on B.
          assert.equal((await upgrade("127.0.0.5", a, "x")).status, 404);
          assert.equal((await upgrade("127.0.0.5", a, "y")).status, 404);
          assert.equal((await upgrade("127.0.0.5", a, "good")).status, 101);
          assert.equal((await upgrade("127.0.0.5", b, "z")).status, 404);
          await vncwsB.waitFor(/ban start .*client=127\.0\.0\.5/);
          // B banned on the fleet-wide count; A learns it from Redis.
          assert.equal((await upgrade("127.0.0.5", b, "good")).status, 429);
          let status = 0;
          for (let i = 0; i < 50 && status !== 429; i++) {
            status = (await upgrade("127.0.0.5", a, "good")).status;
            if (status !== 429) await new Promise((r) => setTimeout(r, 100));
          }
          assert.equal(status, 429, "replica A refuses the address banned through B");
          assert.equal((await upgrade("127.0.0.6", a, "good")).status, 101);
        });
      });
    } finally {
      await redis.proc.stop();
    }
  },
});
