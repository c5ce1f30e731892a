/**
 * Bundled viewer → vncws → Xtigervnc with `-SecurityTypes VncAuth`, in
 * headless Chromium: with the password in the URL the canvas shows the root
 * window's colour; without one the page asks for it; a wrong password says so
 * and asks again, and the right one then connects.
 */
import { freePort, type Proc, skipUnless, startVncws } from "../../scripts/testing/util.ts";
import {
  CHROMIUM,
  hex,
  launchBrowser,
  pageScreenshot,
  samplePixels,
  screenshot,
  waitForStatus,
} from "./_browser.ts";
import { collectErrors, startXvnc, vncPasswordFile, XVNC_PROGRAMS } from "./viewer_page.ts";

const BACKGROUND = 0x3366cc;
const PASSWORD = "s3cret12";

const ignore = skipUnless(
  [...XVNC_PROGRAMS, CHROMIUM],
  "apt-get install tigervnc-standalone-server tigervnc-tools x11-xserver-utils chromium",
);

Deno.test({
  name:
    "browser: bundled viewer → vncws → Xtigervnc (VncAuth): URL password, prompt, wrong password",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vncws-xvnc-" });
    const x = await startXvnc({
      passwordFile: await vncPasswordFile(dir, PASSWORD),
      background: BACKGROUND,
    });
    const port = freePort();
    let vncws: Proc | undefined;
    const browser = await launchBrowser();
    try {
      vncws = await startVncws(["127.0.0.1:" + port, `127.0.0.1:${x.rfbPort}`]);
      const { page } = browser;
      const errors = collectErrors(page, [/Security negotiation failed.*Authentication failure/]);
      const base = `http://127.0.0.1:${port}/vnc.html?autoconnect=1&path=websockify`;

      // The password after "#" (never sent to the server): no prompt at all.
      await page.goto(`${base}#password=${PASSWORD}`);
      await waitForStatus(page, /^Connected/);
      const pts: Array<[number, number]> = [[10, 10], [320, 240], [600, 400], [630, 470]];
      let s = await samplePixels(page, pts);
      for (let i = 0; i < 50 && !s.rgb.every((c) => c === BACKGROUND); i++) {
        await new Promise((r) => setTimeout(r, 100));
        s = await samplePixels(page, pts);
      }
      await screenshot(page, "xvnc-connected");
      if (s.width !== 640 || s.height !== 480) {
        throw new Error(`canvas is ${s.width}x${s.height}, expected 640x480`);
      }
      if (!s.rgb.every((c) => c === BACKGROUND)) {
        throw new Error(
          `root window colour not shown: got ${s.rgb.map(hex)}, want ${hex(BACKGROUND)}`,
        );
      }
      if (await page.isVisible("#credentials")) throw new Error("prompted despite the password");

      // Without a password the viewer asks for one.
      await page.goto(base);
      await waitForStatus(page, /^Password required/);
      if (await page.isVisible("#credentials-error")) {
        throw new Error("the first prompt already reports a wrong password");
      }
      await pageScreenshot(page, "viewer-password-prompt");
      await page.fill("#password", PASSWORD);
      await page.click("#credentials-send");
      await waitForStatus(page, /^Connected/);
      await page.click("#disconnect");
      await waitForStatus(page, /^Disconnected$/);

      // A wrong password: the page says so and asks again; the right one connects.
      // (a new query: a change of the "#" part alone would not reload the page)
      await page.goto(`${base}&again=1#password=wrong-one`);
      const status = await waitForStatus(page, /^Wrong password|^Failed/);
      await pageScreenshot(page, "viewer-wrong-password");
      if (!/^Wrong password/.test(status)) throw new Error(`wrong password shown as: ${status}`);
      if (!await page.isVisible("#credentials")) throw new Error("no new prompt");
      const said = await page.textContent("#credentials-error");
      if (!/refused the password/.test(said ?? "")) throw new Error(`prompt says: ${said}`);
      await page.fill("#password", "wrong-two");
      await page.click("#credentials-send");
      await waitForStatus(page, /^Wrong password/);
      await page.fill("#password", PASSWORD);
      await page.click("#credentials-send");
      await waitForStatus(page, /^Connected/);
      if (errors.length > 0) throw new Error(`console errors in the viewer:\n${errors.join("\n")}`);
    } finally {
      await browser.close();
      await vncws?.stop();
      await x.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
