/**
 * A per-token session limit that holds across a fleet: two replicas behind
 * HAProxy (deploy/haproxy-http.cfg) share their session counts in Redis
 * (`--state-redis`) with `--max-per-token 1`. A token's first session opens;
 * its second, sent by HAProxy to the other replica, gets 429; once the first
 * ends, a new one opens. Another token is not held back.
 *
 * Needs `--state-redis` and `/readyz` on the main port.
 */
import assert from "node:assert/strict";
import { createNetwork, skipUnlessNetns } from "../../scripts/testing/netns.ts";
import { FleetClient } from "../../scripts/testing/fleet_client.ts";
import { skipUnless } from "../../scripts/testing/util.ts";
import {
  APP_PORT,
  INSTALL,
  startDesktop,
  startLb,
  startRedisHost,
  startReplicas,
  until,
  VNC_PORT,
} from "./_fleet.ts";

Deno.test({
  name: "fleet: --max-per-token 1 with --state-redis holds across two replicas",
  ignore: skipUnlessNetns() || skipUnless(["haproxy", "redis-server", "redis-cli", "ss"], INSTALL),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using net = await createNetwork(["lb", "app1", "app2", "redis", "desk1", "client"]);
    await startRedisHost(net, "redis");
    await startDesktop(net, "desk1");
    const desk = `${net.ip("desk1")}:${VNC_PORT}`;
    for (const token of ["alpha", "beta"]) {
      const r = await net.exec("redis", "redis-cli", ["-h", net.ip("redis"), "SET", token, desk]);
      assert.equal(r.stdout.trim(), "OK", r.stderr);
    }
    const redis = `${net.ip("redis")}:6379`;
    const args = [
      "--token-plugin",
      "TokenRedis",
      "--token-source",
      redis,
      "--state-redis",
      `redis://${redis}/2`,
      "--max-per-token",
      "1",
      "--trusted-proxy",
      net.ip("lb"),
    ];
    await startReplicas(net, args);
    await startLb(net, "haproxy-http.cfg");
    const client = await FleetClient.start(net, "client");
    const url = (token: string) => `ws://${net.ip("lb")}:${APP_PORT}/websockify?token=${token}`;

    assert.equal((await client.open("a1", url("alpha"))).ev, "open");
    // leastconn sends the next session to the other replica: the limit must hold there too.
    const second = await client.open("a2", url("alpha"));
    assert.deepEqual([second.ev, second.status], ["refused", 429]);
    const third = await client.open("a3", url("alpha"));
    assert.deepEqual([third.ev, third.status], ["refused", 429]);
    // Another token is not limited by alpha's session.
    assert.equal((await client.open("b1", url("beta"))).ev, "open");
    // Once alpha's session ends, its slot is free on every replica.
    await client.close("a1");
    await until(async () => {
      const ev = await client.open(`a${Date.now()}`, url("alpha"));
      return ev.ev === "open" ? ev : undefined;
    }, "alpha's slot freed");
    await client.stop();
  },
});
