/**
 * Debian's nginx with deploy/nginx.conf as it is, in front of one vncws
 * replica, on hosts of their own: the full noVNC app (Debian's `novnc`, served
 * by vncws through nginx) in headless Chromium on the `client` host connects
 * through nginx and shows the demo desktop. The replica trusts nginx's
 * X-Forwarded-For: it logs the client host's address, and with
 * `--deny-ip <other>` refuses the `other` host behind the same nginx (403).
 */
import assert from "node:assert/strict";
import { createNetwork, skipUnlessNetns } from "../../scripts/testing/netns.ts";
import { FleetClient } from "../../scripts/testing/fleet_client.ts";
import { skipUnless, tempDir } from "../../scripts/testing/util.ts";
import { BAR_COLOURS, PANEL_COLOUR } from "../../src/demo/desktop.ts";
import {
  CHROMIUM,
  hex,
  launchBrowser,
  pageScreenshot,
  waitForCanvasPixels,
} from "../browser/_browser.ts";
import {
  APP_PORT,
  INSTALL,
  logLines,
  startDesktop,
  startNginx,
  startReplica,
  until,
  VNC_PORT,
} from "./_fleet.ts";

const NOVNC = "/usr/share/novnc";

Deno.test({
  name: "fleet: noVNC in Chromium → nginx (deploy/nginx.conf) → vncws shows the desktop",
  ignore: skipUnlessNetns() ||
    skipUnless(["nginx", "ss", CHROMIUM, `${NOVNC}/vnc.html`], `${INSTALL} chromium novnc`),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using net = await createNetwork(["lb", "app1", "desk1", "client", "other"]);
    using dir = tempDir();
    await startDesktop(net, "desk1");
    const app1 = await startReplica(
      net,
      "app1",
      ["--web", NOVNC, "--trusted-proxy", net.ip("lb"), "--deny-ip", net.ip("other")],
      `${net.ip("desk1")}:${VNC_PORT}`,
    );
    await startNginx(net, "lb", dir.path, 80, {
      VNCWS_LISTEN: `${net.ip("lb")}:80`,
      VNCWS_UPSTREAM: `${net.ip("app1")}:${APP_PORT}`,
    });

    // Chromium runs in the client host: a script starts it there for playwright.
    const chromium = `${dir.path}/chromium-in-client`;
    Deno.writeTextFileSync(
      chromium,
      `#!/bin/sh\nexec ip netns exec ${net.hosts.client.ns} ${CHROMIUM} "$@"\n`,
    );
    Deno.chmodSync(chromium, 0o755);
    const browser = await launchBrowser(chromium);
    try {
      const { page } = browser;
      // What went wrong, if the desktop does not show.
      const problems: string[] = [];
      page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
      page.on("pageerror", (e) => problems.push(String(e)));
      page.on("requestfailed", (r) => problems.push(`${r.url()}: ${r.failure()?.errorText}`));
      page.on("response", (r) => r.status() >= 400 && problems.push(`${r.url()}: ${r.status()}`));
      await page.goto(`http://${net.ip("lb")}/vnc.html?autoconnect=1&path=websockify`);
      const points = [...BAR_COLOURS.map((_, i) => [i * 100 + 50, 20]), [700, 580]];
      const want = [...BAR_COLOURS, PANEL_COLOUR];
      const got = await waitForCanvasPixels(page, points, want);
      await pageScreenshot(page, "fleet-nginx-novnc");
      assert.equal(
        got.map(hex).join(),
        want.map(hex).join(),
        `noVNC's canvas through nginx; page problems: ${problems.join("; ")}; nginx access log:\n` +
          Deno.readTextFileSync(`${dir.path}/access.log`),
      );
    } finally {
      await browser.close();
    }
    // The session was the browser's, from the client host, through nginx.
    const [end] = await until(() => {
      const e = logLines(app1, "session end");
      return e.length ? e : undefined;
    }, "the browser's session end");
    assert.equal(end.client_address, net.ip("client"), JSON.stringify(end));
    assert(String(end.client).startsWith(`${net.ip("lb")}:`), JSON.stringify(end));

    // Negative: the denied host through the same nginx is refused.
    const other = await FleetClient.start(net, "other");
    const ev = await other.open("x", `ws://${net.ip("lb")}:80/websockify`);
    assert.deepEqual([ev.ev, ev.status], ["refused", 403]);
    await other.stop();
  },
});
