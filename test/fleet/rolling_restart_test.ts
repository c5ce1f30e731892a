/**
 * A rolling restart behind HAProxy (deploy/haproxy-http.cfg as it is, its
 * check on /readyz every second, down after 2): while a client opens a new
 * session every 100 ms and 20 sessions stream checked data through an echo
 * target, app1 and then app2 get SIGTERM with `--drain-delay 3` (longer than
 * the 2 s HAProxy needs to see /readyz fail) and are started again, each
 * only once the other is back in HAProxy's rotation.
 *
 * - Not one new session fails: HAProxy stops sending sessions to a replica
 *   before that replica stops accepting.
 * - Every stream session either finishes with every byte back and right, or
 *   is closed with 1001 ("going away") after `--drain-timeout`; none ends any
 *   other way, and no byte comes back wrong.
 *
 * Needs `/readyz` on the main port and `--drain-delay` (the drain work).
 */
import assert from "node:assert/strict";
import { createNetwork, type Network, skipUnlessNetns } from "../../scripts/testing/netns.ts";
import { FleetClient, type FleetEvent } from "../../scripts/testing/fleet_client.ts";
import { type Proc, skipUnless } from "../../scripts/testing/util.ts";
import {
  APP_PORT,
  INSTALL,
  startDesktop,
  startLb,
  startReplica,
  until,
  VNC_PORT,
} from "./_fleet.ts";

const STREAMS = 20;
const DRAIN_DELAY = 3;
const DRAIN_TIMEOUT = 4;

/** Replica options: drain long enough for HAProxy's check, then a short drain of sessions. */
function replicaArgs(net: Network): string[] {
  return [
    "--trusted-proxy",
    net.ip("lb"),
    "--drain-delay",
    String(DRAIN_DELAY),
    "--drain-timeout",
    String(DRAIN_TIMEOUT),
  ];
}

/** How often HAProxy has logged `server` going `state` (UP or DOWN). */
function transitions(lb: Proc, server: string, state: "UP" | "DOWN"): number {
  return lb.output().split(`Server vncws_replicas/${server} is ${state}`).length - 1;
}

Deno.test({
  name: "fleet: rolling restart behind HAProxy: no new session fails, no byte is lost silently",
  ignore: skipUnlessNetns() || skipUnless(["haproxy", "ss"], INSTALL),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using net = await createNetwork(["lb", "app1", "app2", "desk1", "client", "streams"]);
    await startDesktop(net, "desk1", true);
    const target = `${net.ip("desk1")}:${VNC_PORT}`;
    const replicas: Record<string, Proc> = {};
    await Promise.all(["app1", "app2"].map(async (h) => {
      replicas[h] = await startReplica(net, h, replicaArgs(net), target);
    }));
    const lb = await startLb(net, "haproxy-http.cfg");
    const url = `ws://${net.ip("lb")}:${APP_PORT}/websockify`;
    const client = await FleetClient.start(net, "client");
    const streamer = await FleetClient.start(net, "streams");

    // 20 streams: some short enough to finish during a drain, some longer than any drain.
    const ids = Array.from({ length: STREAMS }, (_, i) => `s${i}`);
    for (const [i, id] of ids.entries()) {
      const ev = await streamer.stream(id, url, {
        bytes: (i % 2 ? 40 : 400) * 4096,
        chunk: 4096,
        intervalMs: 50,
      });
      assert.equal(ev.ev, "open", JSON.stringify(ev));
    }

    // A new session every 100 ms, each opened and closed, until the restarts are over.
    const failed: FleetEvent[] = [];
    let opened = 0;
    let restarting = true;
    const newSessions = (async () => {
      for (let n = 0; restarting; n++) {
        const ev = await client.open(`n${n}`, url);
        if (ev.ev !== "open") failed.push(ev);
        else {
          opened++;
          await client.close(`n${n}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    try {
      for (const host of ["app1", "app2"]) {
        const up = transitions(lb, host, "UP");
        const down = transitions(lb, host, "DOWN");
        Deno.kill(replicas[host].pid, "SIGTERM");
        // Not Proc.stop: its SIGKILL after 5 s would cut the drain short.
        const status = await replicas[host].status;
        assert.equal(status.code, 0, replicas[host].output());
        await until(() => transitions(lb, host, "DOWN") > down || undefined, `${host} DOWN`);
        replicas[host] = await startReplica(net, host, replicaArgs(net), target);
        await until(() => transitions(lb, host, "UP") > up || undefined, `${host} back UP`, 20_000);
      }
    } finally {
      restarting = false;
      await newSessions;
    }
    assert.deepEqual(
      failed,
      [],
      `${failed.length} of ${opened + failed.length} new sessions failed`,
    );
    assert(opened > 50, `only ${opened} new sessions were opened`);

    // Every stream: all bytes back and right, or 1001 from a drained replica.
    const ends = await Promise.all(ids.map((id) => streamer.ended(id, 60_000)));
    const all = streamer.events();
    assert.deepEqual(all.filter((e) => e.ev === "corrupt"), [], "bytes came back wrong");
    for (const [i, end] of ends.entries()) {
      const done = all.some((e) => e.id === ids[i] && e.ev === "done");
      if (done) assert.equal(end.code, 1000, JSON.stringify(end));
      else {
        assert.equal(
          end.code,
          1001,
          `stream ${ids[i]} ended without its bytes: ${JSON.stringify(end)}`,
        );
        // What was sent before the drain's end but never echoed is at most in flight.
        assert(end.verified! <= end.sent!, JSON.stringify(end));
      }
    }
    // Both kinds happened: the short streams finished, the long ones met a drain.
    assert(
      ends.some((e) => e.code === 1000) && ends.some((e) => e.code === 1001),
      JSON.stringify(ends),
    );
    await client.stop();
    await streamer.stop();
  },
});
