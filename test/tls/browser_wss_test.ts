/**
 * The bundled viewer over https:// and wss:// in headless Chromium, with a
 * self-signed certificate the browser is told to accept: vncws --ssl-only
 * in front of the demo desktop; the canvas shows the colour bars.
 */
import { chromium } from "playwright-core";
import { BAR_COLOURS } from "../../src/demo/desktop.ts";
import { freePort, skipUnless, startVncws } from "../../scripts/testing/util.ts";
import { CHROMIUM, hex, samplePixels, screenshot, waitForStatus } from "../browser/_browser.ts";
import { makeCerts } from "../../scripts/testing/certs.ts";

const barPoints: Array<[number, number]> = BAR_COLOURS.map((_, i) => [i * 100 + 50, 20]);

Deno.test({
  name: "browser: bundled viewer over https + wss (self-signed, accepted) shows the demo desktop",
  ignore: skipUnless([CHROMIUM, "openssl"], "apt-get install chromium openssl"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const certs = await makeCerts();
    const port = freePort();
    const vncws = await startVncws([
      "-v",
      "--cert",
      certs.selfCert,
      "--key",
      certs.selfKey,
      "--ssl-only",
      "--demo",
      String(port),
    ]);
    const profile = await Deno.makeTempDir({ prefix: "vncws-chromium-" });
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
      viewport: { width: 1024, height: 768 },
      // The browser is told to accept the self-signed certificate.
      ignoreHTTPSErrors: true,
    });
    try {
      const page = context.pages()[0] ?? await context.newPage();
      await page.goto(`https://127.0.0.1:${port}/`);
      if (!page.url().startsWith("https:") || !page.url().includes("vnc.html")) {
        throw new Error(`/ did not lead to https …/vnc.html: ${page.url()}`);
      }
      await waitForStatus(page, /^Connected/);
      let s = await samplePixels(page, barPoints);
      for (let i = 0; i < 50 && s.rgb.join() !== BAR_COLOURS.join(); i++) {
        await new Promise((r) => setTimeout(r, 100));
        s = await samplePixels(page, barPoints);
      }
      await screenshot(page, "demo-wss-connected");
      if (s.rgb.join() !== BAR_COLOURS.join()) {
        throw new Error(`colour bars not shown over wss: got ${s.rgb.map(hex)}`);
      }
      // With --ssl-only every connection is TLS; the log shows the session on it.
      const log = await vncws.waitFor("session start");
      if (!/TLS established/.test(log)) throw new Error(`no TLS connection in the log:\n${log}`);
    } finally {
      await context.close().catch(() => {});
      await Deno.remove(profile, { recursive: true }).catch(() => {});
      await vncws.stop();
      await certs.remove();
    }
  },
});
