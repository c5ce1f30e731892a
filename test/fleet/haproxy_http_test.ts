/**
 * HAProxy in HTTP mode (deploy/haproxy-http.cfg as it is) in front of two
 * vncws replicas on hosts of their own, started with `--trusted-proxy <lb>`:
 * WebSocket sessions from the `client` host pass HAProxy, spread over both
 * replicas, and each replica logs the client host's address (from
 * X-Forwarded-For) beside HAProxy's as the peer. `--deny-ip <other>` refuses
 * the `other` host through HAProxy (403), and a forged X-Forwarded-For sent
 * straight to a replica, past HAProxy, is not believed.
 */
import assert from "node:assert/strict";
import { createNetwork, skipUnlessNetns } from "../../scripts/testing/netns.ts";
import { FleetClient } from "../../scripts/testing/fleet_client.ts";
import { skipUnless } from "../../scripts/testing/util.ts";
import {
  APP_PORT,
  INSTALL,
  logLines,
  RFB_BANNER,
  startDesktop,
  startLb,
  startReplicas,
  until,
  VNC_PORT,
  waitLogLines,
} from "./_fleet.ts";

Deno.test({
  name:
    "fleet: HAProxy HTTP mode → 2 replicas: X-Forwarded-For names the client; --deny-ip refuses",
  ignore: skipUnlessNetns() || skipUnless(["haproxy", "ss"], INSTALL),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using net = await createNetwork(["lb", "app1", "app2", "desk1", "client", "other"]);
    await startDesktop(net, "desk1");
    const args = ["--trusted-proxy", net.ip("lb"), "--deny-ip", net.ip("other")];
    const desk = `${net.ip("desk1")}:${VNC_PORT}`;
    const [app1, app2] = await startReplicas(net, args, desk);
    await startLb(net, "haproxy-http.cfg");
    const client = await FleetClient.start(net, "client");
    const other = await FleetClient.start(net, "other");
    const url = `ws://${net.ip("lb")}:${APP_PORT}/websockify`;

    // Two sessions held open at once: leastconn gives one to each replica.
    for (const id of ["a", "b"]) {
      const ev = await client.open(id, url);
      assert.equal(ev.ev, "open", JSON.stringify(ev));
      assert.equal(ev.banner, RFB_BANNER);
    }
    for (const id of ["a", "b"]) assert.equal((await client.close(id)).code, 1000);
    for (const app of [app1, app2]) {
      const [end] = await waitLogLines(app, "session end");
      assert.equal(end.client_address, net.ip("client"), JSON.stringify(end));
      assert.match(String(end.client), new RegExp(`^${net.ip("lb").replaceAll(".", "\\.")}:`));
    }

    // The denied host, through HAProxy: 403, logged by the replica it reached.
    const refused = await other.open("x", url);
    assert.deepEqual([refused.ev, refused.status], ["refused", 403]);
    // Straight to a replica, naming the allowed client in its own X-Forwarded-For:
    // the replica does not trust `other`, so the header is ignored and it is refused.
    const forged = await other.open("y", `ws://${net.ip("app1")}:${APP_PORT}/websockify`, {
      "X-Forwarded-For": net.ip("client"),
    });
    assert.deepEqual([forged.ev, forged.status], ["refused", 403]);
    const refusals = await until(() => {
      const lines = [...logLines(app1, "refused"), ...logLines(app2, "refused")];
      return lines.length >= 2 ? lines : undefined;
    }, "two refusals logged");
    assert(
      refusals.every((r) => r.status === 403 && r.kind === "ip_denied"),
      JSON.stringify(refusals),
    );
    const peers = refusals.map((r) => String(r.client).split(":")[0]).sort();
    assert.deepEqual(peers, [net.ip("lb"), net.ip("other")].sort());
    // No session of `other` was relayed anywhere.
    const ends = [...logLines(app1, "session end"), ...logLines(app2, "session end")];
    assert.deepEqual(ends.map((e) => e.client_address), [net.ip("client"), net.ip("client")]);
    await client.stop();
    await other.stop();
  },
});
