/**
 * HAProxy in TCP mode with the PROXY protocol v2 (deploy/haproxy-tcp.cfg as it
 * is: `send-proxy-v2`, health checks with a PROXY header of their own) in
 * front of two replicas started with `--accept-proxy-protocol <lb>`: each
 * replica logs the client host's address from the header; `--deny-ip <other>`
 * refuses the `other` host through HAProxy (403), and `other` connecting
 * straight to a replica without a header is refused as itself.
 *
 * Needs `--accept-proxy-protocol` and `/readyz` on the main port.
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
} from "./_fleet.ts";

Deno.test({
  name:
    "fleet: HAProxy TCP mode + PROXY v2 → replicas with --accept-proxy-protocol know the client",
  ignore: skipUnlessNetns() || skipUnless(["haproxy", "ss"], INSTALL),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using net = await createNetwork(["lb", "app1", "app2", "desk1", "client", "other"]);
    await startDesktop(net, "desk1");
    const args = ["--accept-proxy-protocol", net.ip("lb"), "--deny-ip", net.ip("other")];
    const desk = `${net.ip("desk1")}:${VNC_PORT}`;
    const [app1, app2] = await startReplicas(net, args, desk);
    const lb = await startLb(net, "haproxy-tcp.cfg");
    const client = await FleetClient.start(net, "client");
    const other = await FleetClient.start(net, "other");
    const url = `ws://${net.ip("lb")}:${APP_PORT}/websockify`;

    for (const id of ["a", "b"]) {
      const ev = await client.open(id, url);
      assert.deepEqual([ev.ev, ev.banner], ["open", RFB_BANNER], JSON.stringify(ev));
    }
    for (const id of ["a", "b"]) assert.equal((await client.close(id)).code, 1000);
    for (const app of [app1, app2]) {
      const [end] = await until(() => {
        const e = logLines(app, "session end");
        return e.length ? e : undefined;
      }, "a session end on each replica");
      // The client named by the PROXY header, whichever field the log puts it in.
      const named = String(end.client_address ?? end.client).split(":")[0];
      assert.equal(named, net.ip("client"), JSON.stringify(end));
    }
    // The health checks (with their own PROXY header) keep both replicas up.
    assert.doesNotMatch(lb.output(), /is DOWN/);

    const refused = await other.open("x", url);
    assert.deepEqual([refused.ev, refused.status], ["refused", 403]);
    const direct = await other.open("y", `ws://${net.ip("app1")}:${APP_PORT}/websockify`);
    assert.deepEqual([direct.ev, direct.status], ["refused", 403]);
    await client.stop();
    await other.stop();
  },
});
