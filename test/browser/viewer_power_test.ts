/**
 * The bundled viewer's Power menu (xvp), in headless Chromium: against
 * `vncws --demo`, which speaks xvp, the menu appears; Reboot reaches the
 * demo (exactly its "POWER: REBOOT" appears on the desktop; its debug log
 * is checked in test/demo/xvp_e2e_test.ts) and the session stays connected. Against Xtigervnc, which has no xvp, no Power
 * menu shows.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { DemoDesktop, POWER_INK } from "../../src/demo/desktop.ts";
import { skipUnless } from "../../scripts/testing/util.ts";
import { CHROMIUM, pageScreenshot, samplePixels, screenshot, waitForStatus } from "./_browser.ts";
import { startXvnc, withViewer, XVNC_PROGRAMS } from "./viewer_page.ts";

const power = new DemoDesktop().layout.power;

/** How many pixels of ink the demo's "POWER: REBOOT" has. */
const REBOOT_INK = (() => {
  const d = new DemoDesktop();
  d.power("reboot");
  let n = 0;
  for (let y = power.y; y < power.y + power.h; y++) {
    for (let x = power.x; x < power.x + power.w; x++) {
      if ((d.pixels[y * d.width + x] & 0xffffff) === POWER_INK) n++;
    }
  }
  return n;
})();

/** Pixels of the power line's ink inside the demo's power line, on the page's canvas. */
function inkOnCanvas(page: Page): Promise<number> {
  return page.evaluate(([r, ink]) => {
    // Runs in the page: the DOM types are not in Deno's lib, hence `any`.
    const canvas = (globalThis as any).document.querySelector("#screen canvas");
    const d: Uint8ClampedArray = canvas.getContext("2d").getImageData(r.x, r.y, r.w, r.h).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]) === ink) n++;
    }
    return n;
  }, [power, POWER_INK] as const);
}

async function poll<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 15000;
  let v = await read();
  while (!ok(v)) {
    if (Date.now() > deadline) throw new Error(`${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
    v = await read();
  }
  return v;
}

Deno.test({
  name: "browser: the demo offers xvp; the Power menu's Reboot reaches it and the session goes on",
  ignore: skipUnless(CHROMIUM, "apt-get install chromium"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withViewer(["--demo"], async ({ page, base }) => {
      await page.goto(`${base}/vnc.html?autoconnect=1`);
      await waitForStatus(page, /^Connected/);
      await page.waitForSelector("#power-panel:not([hidden])", { timeout: 15000 });
      await page.click("#power-panel summary");
      await page.waitForSelector("#power-reboot", { state: "visible" });
      await pageScreenshot(page, "viewer-power-menu");
      assert.equal(await inkOnCanvas(page), 0, "no power line before the click");

      await page.click("#power-reboot");
      // Exactly the demo's own "POWER: REBOOT" (shutdown or reset draw other pixels).
      await poll(() => inkOnCanvas(page), (n) => n === REBOOT_INK, "POWER: REBOOT never drawn");
      await screenshot(page, "viewer-power-reboot");
      // The demo does not go away for a reboot: the session stays and keeps updating.
      assert.match((await page.textContent("#status")) ?? "", /^Connected/);
      const ticker = new DemoDesktop().layout.ticker;
      const row: Array<[number, number]> = Array.from({ length: 16 }, (_, i) => [
        i * 50 + 25,
        ticker.y + Math.floor(ticker.h / 2),
      ]);
      const first = (await samplePixels(page, row)).rgb.join();
      await poll(
        async () => (await samplePixels(page, row)).rgb.join(),
        (v) => v !== first,
        "the ticker stopped moving after the reboot",
      );
      assert.equal(await page.isVisible("#power-panel"), true, "the menu stays");
    }),
});

Deno.test({
  name: "browser: a VNC server without xvp (Xtigervnc) shows no Power menu",
  ignore: skipUnless([...XVNC_PROGRAMS, CHROMIUM], "apt-get install tigervnc-standalone-server"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const background = 0x6633aa;
    const x = await startXvnc({ background });
    try {
      await withViewer([], async ({ page, base }) => {
        await page.goto(`${base}/vnc.html?autoconnect=1&path=websockify`);
        await waitForStatus(page, /^Connected/);
        // The first update comes after the server read SetEncodings (with -309):
        // an XVP_INIT, had there been one, came before it.
        await poll(
          async () => (await samplePixels(page, [[10, 10]])).rgb[0],
          (v) => v === background,
          "the desktop is never drawn",
        );
        await pageScreenshot(page, "viewer-power-none");
        assert.equal(await page.isHidden("#power-panel"), true, "no Power menu without xvp");
        assert.match((await page.textContent("#status")) ?? "", /^Connected/);
      }, { target: `127.0.0.1:${x.rfbPort}` });
    } finally {
      await x.stop();
    }
  },
});
