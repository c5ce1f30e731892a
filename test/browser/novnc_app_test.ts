/**
 * The full noVNC application (Debian's `novnc` package, served with
 * `--web /usr/share/novnc`, as novnc_proxy users run it) → vncws → demo
 * desktop: the app connects and its canvas shows the demo's colour bars.
 */
import { BAR_COLOURS, PANEL_COLOUR } from "../../src/demo/desktop.ts";
import { freePort, skipUnless, startVncws } from "../../scripts/testing/util.ts";
import { CHROMIUM, hex, launchBrowser, pageScreenshot, waitForCanvasPixels } from "./_browser.ts";

const NOVNC = "/usr/share/novnc";

Deno.test({
  name: "browser: Debian's full noVNC app (--web /usr/share/novnc) shows the demo desktop",
  ignore: skipUnless([CHROMIUM, `${NOVNC}/vnc.html`], "apt-get install chromium novnc"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const port = freePort();
    const vncws = await startVncws(["--demo", "--web", NOVNC, String(port)]);
    const browser = await launchBrowser();
    try {
      const { page } = browser;
      await page.goto(`http://127.0.0.1:${port}/vnc.html?autoconnect=1&path=websockify`);
      // The bars at the top and the panel at the bottom: noVNC 1.3 once drew the
      // later parts of a large raw update transparent (it used the padding byte as alpha).
      const points = [...BAR_COLOURS.map((_, i) => [i * 100 + 50, 20]), [700, 580]];
      const want = [...BAR_COLOURS, PANEL_COLOUR];
      const got = await waitForCanvasPixels(page, points, want);
      await new Promise((r) => setTimeout(r, 1000)); // let the rest of the first update paint
      await pageScreenshot(page, "novnc-app-demo");
      if (got.join() !== want.join()) {
        throw new Error(`noVNC app canvas: got ${got.map(hex)}, want ${want.map(hex)}`);
      }
    } finally {
      await browser.close();
      await vncws.stop();
    }
  },
});
