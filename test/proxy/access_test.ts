/**
 * Routing and access end to end: vncws as a real process with token files,
 * auth plugins, address lists and limits; every refusal's status.
 */
import assert from "node:assert/strict";
import { freePort, startVncws, tempDir } from "../../scripts/testing/util.ts";
import { readAll, wsConnect } from "../../scripts/testing/ws_client.ts";
import { startEchoTarget, startProxy } from "../../scripts/testing/targets.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const dec = new TextDecoder();

Deno.test({
  name: "token file routes to the right desktop; refusals are HTTP statuses",
  ...opts,
  async fn(t) {
    const a = startEchoTarget({ banner: "RFB 003.008\nA" });
    const b = startEchoTarget({ banner: "RFB 003.008\nB" });
    using dir = tempDir();
    const file = `${dir.path}/tokens.conf`;
    Deno.writeTextFileSync(
      file,
      `# desktops\nalpha: 127.0.0.1:${a.port}\n  beta:\t[127.0.0.1]:${b.port}\n\n`,
    );
    const port = freePort();
    const vncws = await startVncws([
      "--token-plugin",
      "TokenFile",
      "--token-source",
      file,
      String(port),
      "--max-per-token",
      "1",
    ]);
    try {
      await t.step("?token=, /websockify/<token> and the token cookie", async () => {
        for (
          const [opts, want] of [
            [{ path: "/websockify?token=alpha" }, "A"],
            [{ path: "/websockify/beta" }, "B"],
            [{ path: "/websockify", headers: { Cookie: "x=1; token=alpha" } }, "A"],
          ] as const
        ) {
          const ws = await wsConnect(port, opts);
          assert.equal(ws.response.status, 101);
          assert.equal(dec.decode(await ws.readBytes(13)), `RFB 003.008\n${want}`);
          ws.close();
          await new Promise((r) => setTimeout(r, 100)); // let the per-token slot go
        }
      });
      await t.step(
        "unknown token → 404, missing token → 403 (websockify drops the TCP connection)",
        async () => {
          const u = await wsConnect(port, { path: "/websockify?token=nope" });
          assert.equal(u.response.status, 404);
          u.close();
          const m = await wsConnect(port, { path: "/websockify" });
          assert.equal(m.response.status, 403);
          assert.match(dec.decode(m.response.rest) + await readAll(m.conn), /a token is required/);
          m.close();
        },
      );
      await t.step("--max-per-token 1: a second session on the same token → 429", async () => {
        const one = await wsConnect(port, { path: "/websockify?token=alpha" });
        assert.equal(one.response.status, 101);
        const two = await wsConnect(port, { path: "/websockify?token=alpha" });
        assert.equal(two.response.status, 429);
        two.close();
        one.close();
      });
      await t.step("the token file changes while running: the new target is used", async () => {
        Deno.writeTextFileSync(file, `alpha: 127.0.0.1:${b.port}\n`);
        await new Promise((r) => setTimeout(r, 1100)); // a new mtime second
        Deno.writeTextFileSync(file, `alpha: 127.0.0.1:${b.port}\n`);
        const ws = await wsConnect(port, { path: "/websockify?token=alpha" });
        assert.equal(dec.decode(await ws.readBytes(13)), "RFB 003.008\nB");
        ws.close();
      });
      await t.step("a silent raw client is not relayed when tokens route", async () => {
        const c = await Deno.connect({ hostname: "127.0.0.1", port });
        const buf = new Uint8Array(16);
        const n = await Promise.race([
          c.read(buf),
          new Promise((r) => setTimeout(() => r("wait"), 1500)),
        ]);
        assert.equal(n, "wait");
        c.close();
      });
      assert.doesNotMatch(vncws.output(), /alpha|beta/, "raw tokens must not be logged");
    } finally {
      await vncws.stop();
      await a.close();
      await b.close();
    }
  },
});

Deno.test({
  name: "auth: Basic 401/101, Origin allow-list 403, deny-ip closes, web-auth on static files",
  ...opts,
  async fn() {
    {
      // vncws and its target stop at the end of this block.
      await using p = await startProxy([
        "--auth-plugin",
        "BasicHTTPAuth",
        "--auth-source",
        "alice:s3cret",
        "--allow-origin",
        "https://good.example",
        "--web-auth",
      ]);
      const { port } = p;
      const good = {
        Origin: "https://good.example",
        Authorization: `Basic ${btoa("alice:s3cret")}`,
      };
      const ok = await wsConnect(port, { headers: good });
      assert.equal(ok.response.status, 101);
      ok.close();
      const noAuth = await wsConnect(port, { headers: { Origin: "https://good.example" } });
      assert.equal(noAuth.response.status, 401);
      assert.match(noAuth.response.head, /WWW-Authenticate: Basic/i);
      noAuth.close();
      const wrong = await wsConnect(port, {
        headers: { ...good, Authorization: `Basic ${btoa("alice:x")}` },
      });
      assert.equal(wrong.response.status, 401);
      wrong.close();
      const badB64 = await wsConnect(port, { headers: { ...good, Authorization: "Basic !!!" } });
      assert.equal(badB64.response.status, 400);
      badB64.close();
      const foreign = await wsConnect(port, {
        headers: { ...good, Origin: "https://evil.example" },
      });
      assert.equal(foreign.response.status, 403);
      foreign.close();
      const noOrigin = await wsConnect(port, { headers: { Authorization: good.Authorization } });
      assert.equal(noOrigin.response.status, 403);
      noOrigin.close();
      const page = await fetch(`http://127.0.0.1:${port}/vnc.html`);
      assert.equal(page.status, 401);
      await page.body?.cancel();
      const page2 = await fetch(`http://127.0.0.1:${port}/vnc.html`, {
        headers: { Authorization: good.Authorization },
      });
      assert.equal(page2.status, 200);
      await page2.body?.cancel();
    }
    await using denied = await startProxy(["--deny-ip", "127.0.0.0/8"]);
    const c = await Deno.connect({ hostname: "127.0.0.1", port: denied.port });
    assert.equal(await c.read(new Uint8Array(8)), null);
    c.close();
    await denied.vncws.waitFor(/refused .*client address not allowed/);
  },
});
