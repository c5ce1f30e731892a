/**
 * The single binary: built and run end to end when a denort runtime is
 * available (DENORT_BIN); otherwise skipped with the reason, because
 * `deno compile` cannot download denort on machines without network access.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { compileArgs } from "../../scripts/compile.ts";
import { freePort, startProcess } from "../../scripts/testing/util.ts";
import { wsConnect } from "../../scripts/testing/ws_client.ts";

const denort = Deno.env.get("DENORT_BIN");
if (!denort) {
  console.error(
    "skipped: compiled-binary test — DENORT_BIN is not set and denort cannot be downloaded here; " +
      "set DENORT_BIN=/path/to/denort (same Deno version) to run it",
  );
}

Deno.test("compile arguments embed the viewer, noVNC and the shim with limited permissions", () => {
  const args = compileArgs("/tmp/vncws-test");
  assert.ok(!args.includes("-A") && !args.includes("--allow-all"));
  for (const p of ["--allow-net", "--allow-read", "--allow-run"]) assert.ok(args.includes(p), p);
  const includes = args.flatMap((a, i) => (args[i - 1] === "--include" ? [a] : []));
  // The page and its committed bundle (src/web/viewer/dist/), not the sources.
  assert.ok(includes.some((p) => p.endsWith(join("web", "viewer", "vnc.html"))));
  assert.ok(includes.some((p) => p.endsWith(join("web", "viewer", "dist"))));
  assert.ok(!includes.some((p) => p.endsWith(join("web", "viewer"))));
  assert.ok(includes.some((p) => p.endsWith(join("novnc", "core"))));
  assert.ok(includes.some((p) => p.endsWith("rebind.so")));
});

Deno.test({
  name: "compiled binary serves the demo desktop and the viewer",
  ignore: !denort,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = Deno.makeTempDirSync();
    const bin = join(dir, "vncws");
    const build = startProcess(Deno.execPath(), ["task", "compile", bin]);
    assert.equal((await build.status).code, 0, build.output());
    const port = freePort();
    const p = startProcess(bin, ["--demo", String(port)]);
    try {
      await p.waitFor("listening on");
      for (const path of ["/core/rfb.js", "/vnc.html", "/vnc.js", "/vnc.css"]) {
        const page = await fetch(`http://127.0.0.1:${port}${path}`);
        assert.equal(page.status, 200, path);
        await page.body?.cancel();
      }
      const ws = await wsConnect(port);
      assert.equal(new TextDecoder().decode(await ws.readBytes(12)), "RFB 003.008\n");
      ws.close();
    } finally {
      await p.stop();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
