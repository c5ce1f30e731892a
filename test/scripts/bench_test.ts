/**
 * `deno task bench --quick` still works: it prints a table row per peer and
 * reports no error. No timing assertions: the numbers depend on the machine.
 */

import assert from "node:assert/strict";
import { MAIN, skipUnless } from "../_util.ts";

const NEEDS = ["cc", "socat", "websockify", "openssl"];
const INSTALL = "apt-get install build-essential libssl-dev socat websockify python3-numpy openssl";
const BENCH = new URL("../../scripts/bench.ts", import.meta.url).pathname;
const PEERS = ["direct", "socat", "websockify", "vncws", "websockify wss", "vncws wss"];

Deno.test({
  name: "bench --quick prints a row per peer in every table and no error",
  ignore: skipUnless(NEEDS, INSTALL),
  async fn() {
    const dir = await Deno.makeTempDir();
    const out = `${dir}/bench.md`;
    try {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", BENCH, "--quick", "--out", out],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const { code, stdout, stderr } = await child.output();
      const text = new TextDecoder().decode(stdout);
      const log = new TextDecoder().decode(stderr);
      assert.equal(code, 0, `bench exited ${code}\n${log}\n${text}`);
      // the results file holds exactly what was printed
      assert.equal((await Deno.readTextFile(out)).trimEnd(), text.trimEnd());
      for (
        const heading of ["## Throughput", "## Latency and concurrency", "## Scale and startup"]
      ) {
        const section = text.split(heading)[1]?.split("\n## ")[0];
        assert(section !== undefined, `no "${heading}" table in:\n${text}`);
        for (const peer of PEERS) {
          const row = section.split("\n").find((l) => l.startsWith(`| ${peer} |`));
          assert(row, `${heading}: no row for ${peer} in:\n${section}`);
          assert(!/\berror\b/i.test(row!), `${heading}: ${peer} row shows an error: ${row}`);
        }
      }
      assert(!text.includes("## Errors"), `errors reported:\n${text}`);
      assert(text.includes("## Goals"), "the goals are stated");
      // vncws is measured (not "n/a") once main.ts exists
      const hasMain = await Deno.stat(MAIN).then(() => true, () => false);
      const vncwsRow = text.split("## Throughput")[1].split("\n").find((l) =>
        l.startsWith("| vncws |")
      )!;
      assert.equal(vncwsRow.includes("n/a"), !hasMain, vncwsRow);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** PIDs of a process and its live descendants, from /proc. */
function tree(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      parent.set(Number(e.name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch { /* gone */ }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    for (const [p, pp] of parent) if (pp === out[i]) out.push(p);
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

Deno.test({
  name: "bench stops every process it started on SIGINT",
  ignore: skipUnless(NEEDS, INSTALL),
  async fn() {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", BENCH, "--quick", "--out", "-", "--workloads", "rtt,idle"],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const reader = child.stderr.getReader();
    let log = "";
    // wait until the proxies run and a workload has started
    while (!log.includes("round 1/1 rtt")) {
      const { value, done } = await reader.read();
      if (done) break;
      log += new TextDecoder().decode(value);
    }
    const started = tree(child.pid).slice(1);
    assert(started.length >= 4, `expected target + proxies running, found ${started}\n${log}`);
    Deno.kill(child.pid, "SIGINT");
    const status = await child.status;
    reader.releaseLock();
    await child.stderr.cancel();
    assert.equal(status.code, 130, log);
    const left = started.filter(alive);
    assert.deepEqual(left, [], `still running after SIGINT: ${left}`);
  },
});
