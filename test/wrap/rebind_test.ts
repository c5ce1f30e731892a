/**
 * The shim's rule, checked with a probe program that binds under LD_PRELOAD:
 * the old port moves to loopback:NEW for IPv4 and IPv6, everything else
 * passes through, and each moved bind is reported with its PID.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { freePort, skipUnless } from "../../scripts/testing/util.ts";
import { installShim } from "../../src/wrap/shim.ts";
import { freeLoopbackPort } from "../../src/wrap/free_port.ts";

const PY = "/usr/bin/python3";
const PROBE = new URL("./_bind_probe.py", import.meta.url).pathname;
const ignore = skipUnless([PY, "cc"], "apt-get install python3 gcc");

interface BindResult {
  spec: string;
  host?: string;
  port?: number;
  errno?: number;
  addr?: string;
}

async function probe(
  dir: string,
  env: Record<string, string>,
  specs: string[],
): Promise<{ results: BindResult[]; pid: number }> {
  const child = new Deno.Command(PY, {
    args: [PROBE, ...specs],
    env: { LD_PRELOAD: join(dir, "rebind.so"), ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return {
    results: text.trim().split("\n").map((l) => JSON.parse(l) as BindResult),
    pid: child.pid,
  };
}

async function withShim(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vncws-rebind-test-" });
  try {
    await installShim(dir);
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "rebind: the old port moves to 127.0.0.1/[::1]:NEW, other binds pass through",
  ignore,
  fn: () =>
    withShim(async (dir) => {
      const oldPort = freePort();
      const newPort = freeLoopbackPort();
      const other = freeLoopbackPort();
      const report = join(dir, "report");
      const sock = join(dir, "s.sock");
      const { results, pid } = await probe(dir, {
        REBIND_OLD_PORT: String(oldPort),
        REBIND_NEW_PORT: String(newPort),
        VNCWS_REBIND_REPORT: report,
      }, [
        `4,0.0.0.0,${oldPort}`,
        `6,::,${oldPort}`,
        `6,::1,${oldPort}`,
        `4,127.0.0.1,${oldPort}`,
        `4,127.0.0.1,${other}`,
        `6,::,${other}`,
        `unix,,${sock}`,
      ]);
      assert.deepEqual(results.map((r) => [r.host, r.port]), [
        ["127.0.0.1", newPort],
        ["::1", newPort],
        ["::1", newPort],
        ["127.0.0.1", newPort],
        ["127.0.0.1", other],
        ["::", other],
        [undefined, undefined],
      ]);
      assert.equal(results[6].addr, sock);
      const lines = (await Deno.readTextFile(report)).trim().split("\n");
      assert.deepEqual(lines, [`${pid} 4`, `${pid} 6`, `${pid} 6`, `${pid} 4`]);
    }),
});

Deno.test({
  name: "rebind: invalid or missing REBIND_* variables move nothing",
  ignore,
  fn: () =>
    withShim(async (dir) => {
      const port = freeLoopbackPort();
      for (
        const env of [
          { REBIND_OLD_PORT: String(port), REBIND_NEW_PORT: "x1" },
          { REBIND_OLD_PORT: `${port} `, REBIND_NEW_PORT: "4000" },
          { REBIND_OLD_PORT: String(port), REBIND_NEW_PORT: "70000" },
          { REBIND_OLD_PORT: String(port) },
        ]
      ) {
        const { results } = await probe(dir, env as Record<string, string>, [`4,0.0.0.0,${port}`]);
        assert.deepEqual(
          [results[0].host, results[0].port],
          ["0.0.0.0", port],
          JSON.stringify(env),
        );
      }
    }),
});

Deno.test({
  name: "rebind: a failed moved bind keeps its errno and is reported with it",
  ignore,
  fn: () =>
    withShim(async (dir) => {
      const newPort = freeLoopbackPort();
      const blocker = Deno.listen({ hostname: "127.0.0.1", port: newPort });
      try {
        const oldPort = freePort();
        const report = join(dir, "report");
        const { results, pid } = await probe(dir, {
          REBIND_OLD_PORT: String(oldPort),
          REBIND_NEW_PORT: String(newPort),
          VNCWS_REBIND_REPORT: report,
        }, [`4,0.0.0.0,${oldPort}`]);
        assert.equal(results[0].errno, 98); // EADDRINUSE
        assert.equal((await Deno.readTextFile(report)).trim(), `${pid} 4 E98`);
      } finally {
        blocker.close();
      }
    }),
});
