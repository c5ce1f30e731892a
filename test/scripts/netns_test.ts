/**
 * The multi-host harness (scripts/testing/netns.ts): hosts reach each other
 * and nothing else; the root namespace gains no address or link; every
 * namespace and process is gone after the network is destroyed, also when
 * the test fails, and namespaces of a killed test run are swept.
 */
import assert from "node:assert/strict";
import {
  createNetwork,
  listNamespaces,
  NETNS_SUBNET,
  skipUnlessNetns,
} from "../../scripts/testing/netns.ts";
import { isAlive } from "../../scripts/testing/proc.ts";

/** `ip ARGS` in the root namespace, as text. */
async function rootIp(...args: string[]): Promise<string> {
  const out = await new Deno.Command("ip", { args, stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout);
}

const ignore = skipUnlessNetns();

Deno.test({
  name: "netns: hosts reach each other only; nothing is left after destroy",
  ignore,
  async fn() {
    const linksBefore = await rootIp("-o", "link");
    const net = await createNetwork(["one", "two"]);
    let sleeper = 0;
    try {
      assert.deepEqual([net.ip("one"), net.ip("two")], [
        `${NETNS_SUBNET}.10`,
        `${NETNS_SUBNET}.11`,
      ]);
      const names = await listNamespaces();
      for (const ns of net.namespaces()) assert(names.includes(ns), ns);
      // The root namespace has neither the addresses nor any new link.
      assert.doesNotMatch(
        await rootIp("-o", "addr"),
        new RegExp(NETNS_SUBNET.replaceAll(".", "\\.")),
      );
      assert.equal(await rootIp("-o", "link"), linksBefore);
      // One host reaches the other...
      const ping = await net.exec("one", Deno.execPath(), [
        "eval",
        `const c = await Deno.connect({ hostname: "${net.ip("two")}", port: 9 }).catch((e) => e);
         console.log(c instanceof Error ? c.name : "connected");`,
      ]);
      // (nothing listens on port 9 there: a refusal is the answer of a host that is reached)
      assert.match(ping.stdout, /ConnectionRefused/, ping.stderr);
      // ...and nothing outside: no default route, so the kernel refuses at once.
      const routes = await net.exec("one", "ip", ["route"]);
      assert.equal(
        routes.stdout.trim(),
        `${NETNS_SUBNET}.0/24 dev eth0 proto kernel scope link src ${net.ip("one")}`,
      );
      const out = await net.exec("one", Deno.execPath(), [
        "eval",
        `const c = await Deno.connect({ hostname: "192.0.2.1", port: 80 }).catch((e) => e);
         console.log(c instanceof Error ? c.message : "connected");`,
      ]);
      assert.match(out.stdout, /unreachable/i, out.stderr);
      const p = net.start("two", "sleep", ["600"]);
      sleeper = p.pid;
      assert(isAlive(sleeper));
    } finally {
      await net.destroy();
    }
    assert(!isAlive(sleeper), "the process started in the network still runs");
    const left = (await listNamespaces()).filter((ns) => ns.startsWith(net.id));
    assert.deepEqual(left, []);
    assert.equal(await rootIp("-o", "link"), linksBefore);
  },
});

Deno.test({
  name: "netns: a failing test still deletes its namespaces (await using)",
  ignore,
  async fn() {
    let id = "";
    await assert.rejects(async () => {
      await using net = await createNetwork(["one"]);
      id = net.id;
      throw new Error("the test failed");
    }, /the test failed/);
    assert.deepEqual((await listNamespaces()).filter((ns) => ns.startsWith(id)), []);
    // A bad host list makes nothing.
    const before = await listNamespaces();
    await assert.rejects(() => createNetwork(["ok", "Not-A-Name"]), /bad host name/);
    await assert.rejects(() => createNetwork(["a", "a"]), /repeat/);
    assert.deepEqual(await listNamespaces(), before);
  },
});

Deno.test({
  name: "netns: namespaces of a test process that was killed are swept by the next network",
  ignore,
  async fn() {
    // A finished process's PID stands for a killed test run.
    const gone = new Deno.Command("true").spawn();
    await gone.status;
    const stale = `vncws-${gone.pid}-1-x`;
    const add = await new Deno.Command("ip", { args: ["netns", "add", stale] }).output();
    assert(add.success);
    await using _net = await createNetwork(["one"]);
    assert(!(await listNamespaces()).includes(stale), `${stale} was not swept`);
  },
});
