/**
 * One token store for a fleet: tokens kept in Redis (`--token-plugin
 * TokenRedis`, on a host of its own) are honoured by both replicas behind
 * HAProxy (deploy/haproxy-http.cfg, no stickiness), so sessions of one token
 * are served by either replica and reach the token's desktop. A token Redis
 * does not hold is refused by both (404); one deleted from Redis stops
 * working on both.
 */
import assert from "node:assert/strict";
import { createNetwork, type Network, skipUnlessNetns } from "../../scripts/testing/netns.ts";
import { FleetClient } from "../../scripts/testing/fleet_client.ts";
import { skipUnless } from "../../scripts/testing/util.ts";
import {
  APP_PORT,
  INSTALL,
  logLines,
  RFB_BANNER,
  startDesktop,
  startLb,
  startRedisHost,
  startReplicas,
  until,
  VNC_PORT,
} from "./_fleet.ts";

/** Runs redis-cli against the network's redis host; throws when it fails. */
async function redisCli(net: Network, ...args: string[]): Promise<string> {
  const r = await net.exec("redis", "redis-cli", ["-h", net.ip("redis"), ...args]);
  if (r.code !== 0) throw new Error(`redis-cli ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

Deno.test({
  name: "fleet: a token stored in Redis works on either replica behind HAProxy",
  ignore: skipUnlessNetns() || skipUnless(["haproxy", "redis-server", "redis-cli", "ss"], INSTALL),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using net = await createNetwork([
      "lb",
      "app1",
      "app2",
      "redis",
      "desk1",
      "desk2",
      "client",
    ]);
    await startRedisHost(net, "redis");
    await Promise.all([startDesktop(net, "desk1"), startDesktop(net, "desk2")]);
    const desk1 = `${net.ip("desk1")}:${VNC_PORT}`;
    const desk2 = `${net.ip("desk2")}:${VNC_PORT}`;
    // Both forms TokenRedis reads: JSON and plain host:port.
    assert.equal(await redisCli(net, "SET", "alpha", JSON.stringify({ host: desk1 })), "OK");
    assert.equal(await redisCli(net, "SET", "beta", desk2), "OK");
    const args = [
      "--token-plugin",
      "TokenRedis",
      "--token-source",
      `${net.ip("redis")}:6379`,
      "--trusted-proxy",
      net.ip("lb"),
    ];
    const [app1, app2] = await startReplicas(net, args);
    await startLb(net, "haproxy-http.cfg");
    const client = await FleetClient.start(net, "client");
    const lb = `ws://${net.ip("lb")}:${APP_PORT}/websockify`;

    // Four sessions held at once: two of each token, spread over both replicas.
    const opened = [];
    for (const [id, token] of [["a1", "alpha"], ["a2", "alpha"], ["b1", "beta"], ["b2", "beta"]]) {
      opened.push(await client.open(id, `${lb}?token=${token}`));
    }
    for (const ev of opened) assert.deepEqual([ev.ev, ev.banner], ["open", RFB_BANNER]);
    for (const id of ["a1", "a2", "b1", "b2"]) await client.close(id);
    const ends = await until(() => {
      const e = [logLines(app1, "session end"), logLines(app2, "session end")];
      return e[0].length + e[1].length >= 4 ? e : undefined;
    }, "four session ends logged");
    // Each replica served alpha and beta, and each token reached its own desktop.
    for (const replicaEnds of ends) {
      const targets = replicaEnds.map((e) => e.target).sort();
      assert.deepEqual(targets, [desk1, desk2].sort(), JSON.stringify(replicaEnds));
    }
    const alphaHashes = new Set(
      ends.flat().filter((e) => e.target === desk1).map((e) => e.token_hash),
    );
    assert.equal(alphaHashes.size, 1, "one token, one hash on both replicas");

    // Negative: a token Redis does not hold is refused wherever it lands; a deleted one stops.
    assert.deepEqual(
      [
        (await client.open("n1", `${lb}?token=gamma`)).status,
        (await client.open("n2", `${lb}?token=gamma`)).status,
      ],
      [404, 404],
    );
    assert.equal(await redisCli(net, "DEL", "alpha"), "1");
    for (const id of ["d1", "d2"]) {
      const ev = await client.open(id, `${lb}?token=alpha`);
      assert.deepEqual([ev.ev, ev.status], ["refused", 404]);
    }
    const refusals = await until(() => {
      const r = [...logLines(app1, "refused"), ...logLines(app2, "refused")];
      return r.length >= 4 ? r : undefined;
    }, "four refusals logged");
    assert(refusals.every((r) => r.kind === "unknown_token"), JSON.stringify(refusals));
    await client.stop();
  },
});
