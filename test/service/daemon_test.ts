import assert from "node:assert/strict";
import { freePort, MAIN, startProcess } from "../../scripts/testing/util.ts";
import { startEchoTarget } from "../../scripts/testing/targets.ts";
import { wsConnect } from "../../scripts/testing/ws_client.ts";
import { processAlive } from "../../src/service/pid_file.ts";
import { sleep } from "../../src/base/time.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "-D --pid-file: the foreground exits 0, the daemon serves, SIGTERM removes the pid file",
  ...opts,
  async fn() {
    const dir = Deno.makeTempDirSync();
    const target = startEchoTarget();
    const port = freePort();
    const pidFile = `${dir}/vncws.pid`;
    const logFile = `${dir}/vncws.log`;
    const fg = startProcess(Deno.execPath(), [
      "run",
      "-A",
      MAIN,
      "-D",
      "--pid-file",
      pidFile,
      "--log-file",
      logFile,
      String(port),
      `127.0.0.1:${target.port}`,
    ]);
    const st = await fg.status;
    assert.equal(st.code, 0, fg.output());
    assert.match(fg.output(), /running in the background as pid \d+/);
    const pid = Number(Deno.readTextFileSync(pidFile).trim());
    try {
      assert.ok(processAlive(pid));
      const ws = await wsConnect(port);
      assert.equal(ws.response.status, 101);
      ws.close();
      assert.match(Deno.readTextFileSync(logFile), /listening on/);
    } finally {
      Deno.kill(pid, "SIGTERM");
      for (let i = 0; i < 100 && processAlive(pid); i++) {
        await sleep(50);
      }
      await target.close();
    }
    assert.ok(!processAlive(pid), "daemon still running after SIGTERM");
    assert.throws(() => Deno.statSync(pidFile), Deno.errors.NotFound);
    Deno.removeSync(dir, { recursive: true });
  },
});

Deno.test({
  name: "-D with a port in use: the foreground reports the error and exits 1",
  ...opts,
  async fn() {
    const busy = Deno.listen({ hostname: "0.0.0.0", port: 0 });
    const port = (busy.addr as Deno.NetAddr).port;
    try {
      const fg = startProcess(Deno.execPath(), [
        "run",
        "-A",
        MAIN,
        "-D",
        String(port),
        "127.0.0.1:1",
      ]);
      const st = await fg.status;
      assert.equal(st.code, 1);
      assert.match(fg.output(), /in use/i);
    } finally {
      busy.close();
    }
  },
});
