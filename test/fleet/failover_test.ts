/**
 * A replica killed outright (`kill -9`) behind HAProxy (deploy/haproxy-http.cfg
 * as it is): only the sessions it carried end, those on the other replica go
 * on; HAProxy's health check marks it down, and every new session then
 * succeeds on the other replica.
 */
import assert from "node:assert/strict";
import { createNetwork, type Network, skipUnlessNetns } from "../../scripts/testing/netns.ts";
import { FleetClient } from "../../scripts/testing/fleet_client.ts";
import { skipUnless } from "../../scripts/testing/util.ts";
import {
  APP_PORT,
  INSTALL,
  logLines,
  startDesktop,
  startLb,
  startReplicas,
  until,
  VNC_PORT,
} from "./_fleet.ts";

/** Each replica's --metrics port, on the loopback of its own host. */
const METRICS_PORT = 9180;

/** vncws_sessions_active of the replica in host `host` (its --metrics port on its own loopback). */
async function sessionsOn(net: Network, host: string): Promise<number> {
  const r = await net.exec(host, "curl", ["-sf", `http://127.0.0.1:${METRICS_PORT}/metrics`]);
  const m = /^vncws_sessions_active (\d+)$/m.exec(r.stdout);
  if (!m) throw new Error(`no vncws_sessions_active from ${host}: ${r.stdout}${r.stderr}`);
  return Number(m[1]);
}

Deno.test({
  name: "fleet: kill -9 of one replica ends only its sessions; HAProxy sends new ones to the other",
  ignore: skipUnlessNetns() || skipUnless(["haproxy", "ss", "curl"], INSTALL),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using net = await createNetwork(["lb", "app1", "app2", "desk1", "client"]);
    await startDesktop(net, "desk1");
    const args = ["--trusted-proxy", net.ip("lb"), "--metrics", String(METRICS_PORT)];
    const desk = `${net.ip("desk1")}:${VNC_PORT}`;
    const [app1, app2] = await startReplicas(net, args, desk);
    const lb = await startLb(net, "haproxy-http.cfg");
    const client = await FleetClient.start(net, "client");
    const url = `ws://${net.ip("lb")}:${APP_PORT}/websockify`;
    const before = ["s1", "s2", "s3", "s4", "s5", "s6"];
    for (const id of before) assert.equal((await client.open(id, url)).ev, "open");
    const onApp1 = await sessionsOn(net, "app1");
    const onApp2 = await sessionsOn(net, "app2");
    assert(onApp1 > 0 && onApp2 > 0 && onApp1 + onApp2 === before.length, `${onApp1} + ${onApp2}`);

    const killed = await app1.stop("SIGKILL");
    assert.equal(killed.signal, "SIGKILL");
    // HAProxy notices through its check ("inter 1s fall 2").
    await lb.waitFor(/Server vncws_replicas\/app1 is DOWN/, 20_000);
    // Exactly app1's sessions ended, without a close frame (the process is gone)...
    const ended = await until(() => {
      const e = before.filter((id) => client.hasEnded(id));
      return e.length >= onApp1 ? e : undefined;
    }, `${onApp1} sessions of app1 to end`);
    assert.equal(ended.length, onApp1);
    // ...and app2's are still open: they end only now, cleanly, when the client closes them.
    const alive = before.filter((id) => !ended.includes(id));
    assert.equal(alive.length, onApp2);

    // Every new session succeeds, on app2.
    const after = ["n1", "n2", "n3", "n4"];
    for (const id of after) assert.equal((await client.open(id, url)).ev, "open", id);
    assert.equal(await sessionsOn(net, "app2"), onApp2 + after.length);
    for (const id of [...alive, ...after]) assert.equal((await client.close(id)).code, 1000, id);
    const ends = await until(() => {
      const e = logLines(app2, "session end");
      return e.length >= alive.length + after.length ? e : undefined;
    }, "app2's session ends");
    assert(ends.every((e) => e.close_code === 1000), JSON.stringify(ends));
    await client.stop();
  },
});
