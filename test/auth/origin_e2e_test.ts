/**
 * Same origin by default, against the real vncws process: python
 * websocket-client (which sends its own origin) and a script without an
 * Origin connect; a foreign Origin is refused with 403 and a log line naming
 * --allow-origin; `--allow-origin` lets it in. Then in headless Chromium: a
 * page on another origin cannot open a WebSocket to vncws unless allowed.
 */
import assert from "node:assert/strict";
import { startEchoTarget } from "../../scripts/testing/targets.ts";
import {
  freePort,
  skipUnless,
  skipUnlessPython,
  startProcess,
  startVncws,
} from "../../scripts/testing/util.ts";
import { wsConnect } from "../../scripts/testing/ws_client.ts";
import { CHROMIUM, launchBrowser } from "../browser/_browser.ts";

/** Runs python websocket-client against vncws; resolves its printed outcome. */
async function python(port: number, origin?: string): Promise<string> {
  const py = startProcess("/usr/bin/python3", [
    "-c",
    `
import sys, websocket
kw = {"origin": sys.argv[2]} if len(sys.argv) > 2 else {}
try:
    ws = websocket.create_connection(sys.argv[1], timeout=10, **kw)
except websocket.WebSocketBadStatusException as e:
    print("STATUS", e.status_code)
    sys.exit(0)
assert ws.recv() == b"RFB 003.008\\n"
ws.close()
print("OPEN")
`,
    `ws://127.0.0.1:${port}/websockify`,
    ...(origin ? [origin] : []),
  ]);
  await py.status;
  return py.output().trim();
}

Deno.test({
  name: "origin: same origin by default (python websocket-client); --allow-origin admits others",
  ignore: skipUnlessPython("websocket", "apt-get install python3-websocket"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const target = startEchoTarget();
    const port = freePort();
    let vncws = await startVncws([`127.0.0.1:${port}`, `127.0.0.1:${target.port}`]);
    try {
      // websocket-client sends Origin: http://127.0.0.1:PORT, this server's own.
      assert.match(await python(port), /OPEN/);
      assert.match(await python(port, "https://evil.example"), /STATUS 403/);
      assert.match(await python(port, `http://127.0.0.1:${port + 1}`), /STATUS 403/);
      await vncws.waitFor(/refused .*kind=origin.*--allow-origin/);
      // No Origin at all: a native client or script.
      const plain = await wsConnect(port);
      assert.equal(plain.response.status, 101);
      plain.close();
      const foreign = await wsConnect(port, { headers: { Origin: "https://evil.example" } });
      assert.equal(foreign.response.status, 403);
      foreign.close();
      await vncws.stop();
      vncws = await startVncws([
        "--allow-origin",
        "https://portal.example",
        `127.0.0.1:${port}`,
        `127.0.0.1:${target.port}`,
      ]);
      assert.match(await python(port, "https://portal.example"), /OPEN/);
      assert.match(await python(port, "https://evil.example"), /STATUS 403/);
      await vncws.stop();
      // '*': websockify's accept-all.
      vncws = await startVncws([
        "--allow-origin",
        "*",
        `127.0.0.1:${port}`,
        `127.0.0.1:${target.port}`,
      ]);
      assert.match(await python(port, "https://evil.example"), /OPEN/);
    } finally {
      await vncws.stop();
      await target.close();
    }
  },
});

Deno.test({
  name: "origin: a page on another origin in Chromium is refused by default, admitted when allowed",
  ignore: skipUnless(CHROMIUM, "apt-get install chromium"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const target = startEchoTarget();
    const port = freePort();
    // The other site: a page that opens a WebSocket to vncws and reports what happened.
    const sitePort = freePort();
    const site = Deno.serve(
      { hostname: "127.0.0.1", port: sitePort, onListen() {} },
      () =>
        new Response(
          `<!doctype html><script>
          window.outcome = new Promise((resolve) => {
            const ws = new WebSocket("ws://127.0.0.1:${port}/websockify");
            ws.binaryType = "arraybuffer";
            ws.onmessage = () => { resolve("open"); ws.close(); };
            ws.onclose = () => resolve("closed");
          });
        </script>`,
          { headers: { "content-type": "text/html" } },
        ),
    );
    const browser = await launchBrowser();
    const outcome = async () => {
      await browser.page.goto(`http://127.0.0.1:${sitePort}/`);
      return await browser.page.evaluate("window.outcome");
    };
    let vncws = await startVncws([`127.0.0.1:${port}`, `127.0.0.1:${target.port}`]);
    try {
      assert.equal(await outcome(), "closed");
      await vncws.waitFor(new RegExp(`refused .*Origin http://127\\.0\\.0\\.1:${sitePort} `));
      await vncws.stop();
      vncws = await startVncws([
        "--allow-origin",
        `http://127.0.0.1:${sitePort}`,
        `127.0.0.1:${port}`,
        `127.0.0.1:${target.port}`,
      ]);
      assert.equal(await outcome(), "open");
    } finally {
      await browser.close();
      await vncws.stop();
      await site.shutdown();
      await target.close();
    }
  },
});
