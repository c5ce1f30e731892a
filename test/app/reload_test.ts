/**
 * SIGHUP without dropping sessions: --config's routing and access settings
 * are re-read, and /readyz follows the token backend.
 */
import assert from "node:assert/strict";
import { freePort, startVncws } from "../../scripts/testing/util.ts";
import { wsConnect } from "../../scripts/testing/ws_client.ts";
import { startEchoTarget } from "../../scripts/testing/targets.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const dec = new TextDecoder();

Deno.test({
  name: "SIGHUP re-reads --config: a new --deny-ip applies, the running session goes on",
  ...opts,
  async fn() {
    const target = startEchoTarget();
    const dir = Deno.makeTempDirSync();
    const file = `${dir}/vncws.toml`;
    Deno.writeTextFileSync(file, `max-connections = 10\n`);
    const port = freePort();
    const vncws = await startVncws(["--config", file, String(port), `127.0.0.1:${target.port}`]);
    try {
      const kept = await wsConnect(port);
      assert.equal(kept.response.status, 101);
      await kept.readBytes(12);
      Deno.writeTextFileSync(file, `max-connections = 10\ndeny-ip = ["127.0.0.0/8"]\n`);
      Deno.kill(vncws.pid, "SIGHUP");
      await vncws.waitFor("routing and access settings reloaded");
      const refused = await wsConnect(port);
      assert.equal(refused.response.status, 403);
      refused.close();
      await kept.sendBinary("still here");
      assert.equal(dec.decode(await kept.readBytes(10)), "still here");
      kept.close();
      // A broken file keeps the old settings.
      Deno.writeTextFileSync(file, `no-such-option = 1\n`);
      Deno.kill(vncws.pid, "SIGHUP");
      await vncws.waitFor("reload of --config failed");
    } finally {
      await vncws.stop();
      await target.close();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "/readyz is 503 while the token backend does not answer",
  ...opts,
  async fn() {
    const dead = freePort();
    const port = freePort();
    const mport = freePort();
    const vncws = await startVncws([
      "--token-plugin",
      "BaseTokenAPI",
      "--token-source",
      `http://127.0.0.1:${dead}/%s`,
      "--metrics",
      String(mport),
      String(port),
    ]);
    try {
      assert.equal(
        await fetch(`http://127.0.0.1:${mport}/readyz`).then((r) =>
          r.body?.cancel().then(() => r.status)
        ),
        200,
      );
      const ws = await wsConnect(port, { path: "/websockify?token=abc" });
      assert.equal(ws.response.status, 503);
      ws.close();
      const r = await fetch(`http://127.0.0.1:${mport}/readyz`);
      assert.equal(r.status, 503);
      assert.match(await r.text(), /token backend/);
    } finally {
      await vncws.stop();
    }
  },
});
