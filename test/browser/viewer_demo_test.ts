/**
 * Bundled viewer → vncws → built-in demo desktop, in headless Chromium:
 * `/` redirects to the viewer, it connects, the canvas shows the colour bars,
 * a key press recolours the key box, Ctrl-Alt-Del and the clipboard box reach it.
 */
import { BAR_COLOURS, DemoDesktop, keyColour, PANEL_COLOUR } from "../../src/demo/desktop.ts";
import { freePort, skipUnless, startVncws } from "../../scripts/testing/util.ts";
import {
  CHROMIUM,
  hex,
  launchBrowser,
  pageScreenshot,
  samplePixels,
  screenshot,
  waitForStatus,
} from "./_browser.ts";
import { collectErrors } from "./viewer_page.ts";

const layout = new DemoDesktop().layout;
const barPoints: Array<[number, number]> = BAR_COLOURS.map((_, i) => [i * 100 + 50, 20]);
const keyPoint: [number, number] = [layout.key.x + 2, layout.key.y + 2];

Deno.test({
  name: "browser: bundled viewer shows the demo desktop; keys, Ctrl-Alt-Del and clipboard reach it",
  ignore: skipUnless(CHROMIUM, "apt-get install chromium"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const port = freePort();
    const vncws = await startVncws(["--demo", String(port)]);
    const browser = await launchBrowser();
    try {
      const { page } = browser;
      // CSP violations and script errors show up as console errors.
      const errors = collectErrors(page);
      await page.goto(`http://127.0.0.1:${port}/`);
      if (!page.url().includes("vnc.html")) {
        throw new Error(`/ did not lead to vnc.html: ${page.url()}`);
      }
      await waitForStatus(page, /^Connected/);
      // The first full update may land just after "Connected": wait for the bars.
      let s = await samplePixels(page, barPoints);
      for (let i = 0; i < 50 && s.rgb.join() !== BAR_COLOURS.join(); i++) {
        await new Promise((r) => setTimeout(r, 100));
        s = await samplePixels(page, barPoints);
      }
      await screenshot(page, "demo-connected");
      await pageScreenshot(page, "demo-page");
      if (s.width !== 800 || s.height !== 600) {
        throw new Error(`canvas is ${s.width}x${s.height}, expected the demo's 800x600`);
      }
      if (s.rgb.join() !== BAR_COLOURS.join()) {
        throw new Error(
          `colour bars not shown: got ${s.rgb.map(hex)}, want ${BAR_COLOURS.map(hex)}`,
        );
      }
      const [before] = (await samplePixels(page, [keyPoint])).rgb;
      await page.keyboard.press("a");
      const want = keyColour(0x61);
      let after = before;
      for (let i = 0; i < 50 && after !== want; i++) {
        await new Promise((r) => setTimeout(r, 100));
        [after] = (await samplePixels(page, [keyPoint])).rgb;
      }
      await screenshot(page, "demo-after-key");
      if (after !== want) {
        throw new Error(
          `key box is ${hex(after)} after pressing "a" (was ${hex(before)}), want ${hex(want)}`,
        );
      }

      // The extra keys bar: each key's keysym recolours the key box.
      const keyReaches = async (what: string, keysym: number, press: () => Promise<void>) => {
        await press();
        const want = keyColour(keysym);
        for (let i = 0; i < 50 && after !== want; i++) {
          await new Promise((r) => setTimeout(r, 100));
          [after] = (await samplePixels(page, [keyPoint])).rgb;
        }
        if (after !== want) throw new Error(`${what} did not reach the desktop: ${hex(after)}`);
      };
      await page.click("#keys-toggle");
      // Ctrl-Alt-Del: the last key pressed is Delete (keysym 0xffff).
      await keyReaches("Ctrl-Alt-Del", 0xffff, () => page.click("#ctrlaltdel"));
      await keyReaches("Esc", 0xff1b, () => page.click("#key-esc"));
      await keyReaches("F5 from the menu", 0xffc2, async () => {
        await page.click("#keys details summary");
        await page.click("#fkeys button:text-is('F5')");
      });
      await screenshot(page, "demo-after-extra-key");

      // Clipboard box → ClientCutText → the desktop's clipboard line changes.
      const clipLine: Array<[number, number]> = [];
      for (let x = 0; x < 800; x += 2) {
        for (let dy = 0; dy < layout.clip.h; dy += 3) clipLine.push([x, layout.clip.y + dy]);
      }
      const ink = async () =>
        (await samplePixels(page, clipLine)).rgb.filter((c) => c !== PANEL_COLOUR).length;
      const inkBefore = await ink();
      await page.click("#clipboard-panel summary");
      await page.fill("#clipboard", "hello from the browser test");
      await page.click("#clipboard-send");
      let inkAfter = inkBefore;
      for (let i = 0; i < 50 && inkAfter === inkBefore; i++) {
        await new Promise((r) => setTimeout(r, 100));
        inkAfter = await ink();
      }
      await screenshot(page, "demo-after-clipboard");
      if (inkAfter <= inkBefore) {
        throw new Error(
          `clipboard text did not reach the desktop (ink ${inkBefore} -> ${inkAfter})`,
        );
      }
      if (errors.length > 0) throw new Error(`console errors in the viewer:\n${errors.join("\n")}`);
    } finally {
      await browser.close();
      await vncws.stop();
    }
  },
});

Deno.test({
  name: "browser: the bundled viewer shows why the server ended the session (--max-session)",
  ignore: skipUnless(CHROMIUM, "apt-get install chromium"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const port = freePort();
    const vncws = await startVncws(["--demo", "--max-session", "2", String(port)]);
    const browser = await launchBrowser();
    try {
      const { page } = browser;
      await page.goto(`http://127.0.0.1:${port}/`);
      // On a loaded machine the 2 s may be over before a poll sees "Connected".
      await waitForStatus(page, /^(Connected|Disconnected: session time limit)/);
      // The close frame's reason reaches the person, not just "Disconnected".
      await waitForStatus(page, /^Disconnected: session time limit/, 20000);
    } finally {
      await browser.close();
      await vncws.stop();
    }
  },
});
