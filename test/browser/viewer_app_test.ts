/**
 * The bundled viewer as an app, in headless Chromium against real vncws:
 * each state on screen (connecting, connected, settings open, disconnected
 * with a reason and a reconnect countdown, a phone's viewport), settings that
 * survive a reload (and the URL winning over them), the proxy's refusal in
 * words, operator-mandatory settings, and the trackpad touch mode.
 *
 * Two tests need the viewerd branch's server side: the operator settings
 * (`--viewer-defaults`/`--viewer-mandatory`, `GET /vnc_settings.json`) and the
 * route probe (`X-Vncws-Probe: 1`). Without it, the first is skipped with a
 * message and the second checks the page's fallback words instead.
 */
import assert from "node:assert/strict";
import { DemoDesktop, KEY_BOX_IDLE_COLOUR } from "../../src/demo/desktop.ts";
import { SERVER_PIXEL_FORMAT } from "../../src/demo/pixel_format.ts";
import { encodeServerInit, SERVER_VERSION } from "../../src/rfb/handshake.ts";
import { encodePixelFormat } from "../../src/rfb/pixel_format.ts";
import {
  freePort,
  MAIN,
  readExactly,
  readToEof,
  skipUnless,
  startVncws,
} from "../../scripts/testing/util.ts";
import {
  CHROMIUM,
  hex,
  launchBrowser,
  pageScreenshot,
  samplePixels,
  waitForStatus,
} from "./_browser.ts";
import {
  collectErrors,
  scrollsSideways,
  servesProbe,
  servesViewerSettings,
  silentTarget,
  tcpServer,
  vncwsHasOption,
  withViewer,
} from "./viewer_page.ts";

const ignore = skipUnless(CHROMIUM, "apt-get install chromium");
const common = { ignore, sanitizeOps: false, sanitizeResources: false };
const layout = new DemoDesktop().layout;

/** The value each panel control shows, and whether it is locked. */
function panel(page: import("playwright-core").Page, key: string) {
  return page.evaluate((k) => {
    // Runs in the page: the DOM types are not in Deno's lib, hence `any`.
    const input = (globalThis as any).document.getElementById(`set-${k}`);
    const note = (globalThis as any).document.getElementById(`set-${k}-note`);
    return {
      value: input.type === "checkbox" ? String(input.checked) : String(input.value),
      disabled: Boolean(input.disabled),
      note: String(note?.textContent ?? ""),
    };
  }, key);
}

/** Sets a range or number input the way a person's edit does (an input event). */
function setInput(page: import("playwright-core").Page, selector: string, value: string) {
  return page.$eval(selector, (input: any, v: string) => {
    input.value = v;
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }, value);
}

Deno.test({
  name: "browser: viewer states: connecting, connected, settings open, phone and desktop sizes",
  ...common,
  async fn() {
    const silent = silentTarget();
    const quiet = freePort();
    const port = freePort();
    const stuck = await startVncws([String(quiet), `127.0.0.1:${silent.port}`]);
    const vncws = await startVncws(["--demo", String(port)]);
    const browser = await launchBrowser();
    try {
      const { page } = browser;
      const errors = collectErrors(page);
      // A target that accepts and never speaks: the page stays at "Connecting".
      await page.goto(`http://127.0.0.1:${quiet}/vnc.html?autoconnect=1`);
      await waitForStatus(page, /^Connecting$/);
      await pageScreenshot(page, "viewer-connecting");

      await page.goto(`http://127.0.0.1:${port}/vnc.html?autoconnect=1`);
      await waitForStatus(page, /^Connected$/);
      const title = await page.title();
      assert.match(title, / - vncws$/, "the desktop's name is in the title");
      await pageScreenshot(page, "viewer-connected");

      // The remote screen has the keyboard (Tab goes to the server); Shift+F6 leaves it.
      const focused = () =>
        page.evaluate(() => {
          const a = (globalThis as any).document.activeElement;
          return a ? `${a.tagName.toLowerCase()}#${a.id}` : "";
        });
      assert.equal(await focused(), "canvas#", "the remote screen has the focus once connected");
      await page.keyboard.press("Tab");
      assert.equal(await focused(), "canvas#", "Tab left the remote screen");
      await page.keyboard.press("Shift+F6");
      assert.equal(await focused(), "button#disconnect", "Shift+F6 did not reach the bar");
      await page.keyboard.press("Tab");
      await page.keyboard.press("Tab");
      assert.equal(await focused(), "summary#", "Tab does not walk the bar (to Clipboard)");
      await page.keyboard.press("Tab"); // Power (the demo offers xvp), then Settings
      const summary = () =>
        page.evaluate(() => (globalThis as any).document.activeElement?.textContent ?? "");
      assert.equal(await summary(), "Power", "Tab does not reach the Power menu");
      await page.keyboard.press("Tab");
      assert.equal(await summary(), "Settings", "Tab does not reach the Settings menu");
      await page.keyboard.press("Enter");
      assert(await page.isVisible("#set-quality"), "the settings panel opens from the keyboard");
      await pageScreenshot(page, "viewer-settings-open");
      // Escape closes it and gives the focus back to its button (keyboard use).
      await page.focus("#set-quality");
      await page.keyboard.press("Escape");
      assert(!await page.isVisible("#set-quality"), "Escape closes the settings panel");

      // Every control has a name a screen reader can say.
      const unnamed = await page.evaluate(() => {
        const d = (globalThis as any).document;
        const bad: string[] = [];
        for (const e of d.querySelectorAll("button, input, select, textarea, summary")) {
          const named = (e.getAttribute("aria-label") ?? "").trim() !== "" ||
            (e.textContent ?? "").trim() !== "" || (e.labels?.length ?? 0) > 0;
          if (!named) bad.push(e.id || e.outerHTML.slice(0, 60));
        }
        return bad;
      });
      assert.deepEqual(unnamed, [], "controls without a name");

      // The device's colour preference, dark and light.
      const background = () =>
        page.evaluate(() =>
          (globalThis as any).getComputedStyle((globalThis as any).document.body).backgroundColor
        );
      await page.emulateMedia({ colorScheme: "dark" });
      assert.equal(await background(), "rgb(40, 40, 40)");
      await page.emulateMedia({ colorScheme: "light" });
      assert.equal(await background(), "rgb(232, 232, 232)");

      // A phone: the bar wraps, nothing scrolls sideways, the open panel fits.
      await page.setViewportSize({ width: 390, height: 844 });
      await page.click("#keys-toggle");
      await page.click("#settings-panel summary");
      assert(!await scrollsSideways(page), "the page scrolls sideways at 390x844");
      const box = await page.locator("#settings").boundingBox();
      assert(box !== null && box.x >= 0 && box.x + box.width <= 390, `panel at ${box?.x}`);
      await pageScreenshot(page, "viewer-phone");
      await page.setViewportSize({ width: 1920, height: 1080 });
      assert(!await scrollsSideways(page), "the page scrolls sideways at 1920x1080");
      await pageScreenshot(page, "viewer-1920");
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await vncws.stop();
      await stuck.stop();
      silent.close();
    }
  },
});

Deno.test({
  name: "browser: viewer settings survive a reload; a URL parameter wins over the stored choice",
  ...common,
  async fn() {
    await withViewer(["--demo"], async ({ page, base }) => {
      const url = `${base}/vnc.html?autoconnect=1`;
      await page.goto(url);
      await waitForStatus(page, /^Connected$/);
      await page.click("#settings-panel summary");
      await setInput(page, "#set-quality", "3");
      await page.check("#set-show_dot");
      await page.selectOption("#set-resize", "scale");
      await page.check("#set-reconnect");
      await setInput(page, "#set-reconnect_delay", "2500");

      await page.reload();
      await waitForStatus(page, /^Connected$/);
      assert.deepEqual((await panel(page, "quality")).value, "3");
      assert.deepEqual((await panel(page, "show_dot")).value, "true");
      assert.deepEqual((await panel(page, "resize")).value, "scale");
      assert.deepEqual((await panel(page, "reconnect")).value, "true");
      assert.deepEqual((await panel(page, "reconnect_delay")).value, "2500");

      // noVNC's URL parameters win over the stored choice (and are not locked).
      await page.goto(`${url}&quality=8&show_dot=0`);
      await waitForStatus(page, /^Connected$/);
      assert.deepEqual(await panel(page, "quality"), { value: "8", disabled: false, note: "" });
      assert.deepEqual((await panel(page, "show_dot")).value, "false");
      assert.deepEqual((await panel(page, "resize")).value, "scale", "the rest stays stored");
    });
  },
});

Deno.test({
  name: "browser: viewer shows why a session ended and counts down to the reconnect",
  ...common,
  async fn() {
    await withViewer(["--demo", "--max-session", "2"], async ({ page, base }) => {
      // Without reconnect: the reason stays.
      await page.goto(`${base}/vnc.html?autoconnect=1`);
      await waitForStatus(page, /^Connected$/);
      await waitForStatus(page, /^Disconnected: session time limit$/, 20000);
      await pageScreenshot(page, "viewer-disconnected-reason");
      assert(await page.isEnabled("#connect"), "Connect is offered again");

      // With reconnect: a countdown, then connected again.
      await page.goto(
        `${base}/vnc.html?autoconnect=1&reconnect=1&reconnect_delay=1000`,
      );
      await waitForStatus(page, /^Connected$/);
      await waitForStatus(
        page,
        /^Disconnected: session time limit\. Reconnecting in \d+ s$/,
        20000,
      );
      await pageScreenshot(page, "viewer-reconnecting");
      await waitForStatus(page, /^Connected$/, 20000);
      // Disconnect during a countdown cancels it.
      await waitForStatus(page, /Reconnecting in/, 20000);
      await page.click("#disconnect");
      await waitForStatus(page, /^Disconnected$/);
      await new Promise((r) => setTimeout(r, 2500));
      assert.deepEqual(
        await page.textContent("#status"),
        "Disconnected",
        "no reconnect after Cancel",
      );
    });
  },
});

Deno.test({
  name: "browser: viewer names the proxy's refusal of an unknown token (route probe)",
  ...common,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vncws-viewer-" });
    await Deno.writeTextFile(`${dir}/tokens`, "good: 127.0.0.1:1\n");
    const args = ["--token-plugin", "TokenFile", "--token-source", `${dir}/tokens`];
    // Chromium and noVNC log the refused upgrade.
    const expected = [/Unexpected response code: 4\d\d/, /Connection closed \(code: 1006\)/];
    try {
      await withViewer(args, async ({ page, base }) => {
        const probing = await servesProbe(base, "websockify?token=nope");
        if (!probing) {
          console.log("route probe not served (needs the viewerd branch): fallback words");
        }
        await page.goto(`${base}/vnc.html?autoconnect=1&token=nope`);
        const status = await waitForStatus(page, /^Failed: /);
        await pageScreenshot(page, "viewer-refused");
        if (probing) assert.match(status, /^Failed: refused by the proxy \(HTTP 4\d\d\)/);
        else assert.deepEqual(status, "Failed: connection failed (code 1006)");
      }, { expected });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const hasOperatorOptions = await vncwsHasOption(MAIN, "--viewer-mandatory");

Deno.test({
  name: "browser: operator-mandatory settings are locked in the page; defaults can be changed",
  ...common,
  ignore: ignore || !hasOperatorOptions,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vncws-viewer-" });
    await Deno.writeTextFile(`${dir}/mandatory.json`, JSON.stringify({ view_only: true }));
    await Deno.writeTextFile(`${dir}/defaults.json`, JSON.stringify({ quality: 4 }));
    const args = [
      "--demo",
      "--viewer-mandatory",
      `${dir}/mandatory.json`,
      "--viewer-defaults",
      `${dir}/defaults.json`,
    ];
    try {
      await withViewer(args, async ({ page, base }) => {
        assert(await servesViewerSettings(base), "GET /vnc_settings.json is not served");
        // The URL asks for input; the operator's mandatory view-only wins.
        await page.goto(`${base}/vnc.html?autoconnect=1&view_only=0`);
        await waitForStatus(page, /^Connected$/);
        await page.click("#settings-panel summary");
        assert.deepEqual(await panel(page, "view_only"), {
          value: "true",
          disabled: true,
          note: "set by the operator",
        });
        await pageScreenshot(page, "viewer-mandatory");
        // A default is only a default: the person may change it.
        assert.deepEqual(await panel(page, "quality"), { value: "4", disabled: false, note: "" });
        await setInput(page, "#set-quality", "7");
        assert.deepEqual((await panel(page, "quality")).value, "7");
        // View-only: a key press does not reach the desktop.
        await page.keyboard.press("Escape");
        await page.click("#screen canvas");
        await page.keyboard.press("a");
        await new Promise((r) => setTimeout(r, 1000));
        const [box] = (await samplePixels(page, [[layout.key.x + 2, layout.key.y + 2]])).rgb;
        assert.deepEqual(hex(box), hex(KEY_BOX_IDLE_COLOUR), "a key reached a view-only session");
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
if (!hasOperatorOptions) {
  console.log(
    "skipped: operator settings test (this vncws has no --viewer-mandatory: needs the viewerd branch)",
  );
}

Deno.test({
  name: "browser: trackpad mode moves the remote pointer by the finger's slide; taps click",
  ...common,
  async fn() {
    await withViewer(["--demo"], async ({ page, base }) => {
      await page.goto(`${base}/vnc.html?autoconnect=1&touch_mode=trackpad`);
      await waitForStatus(page, /^Connected$/);
      await new Promise((r) => setTimeout(r, 500)); // the first frame
      // The remote pointer starts in the middle (400,300); a slide of 60 CSS px
      // up moves it 90 remote px (to the colour bars), a tap clicks there and not
      // under the finger; a slide of 40 px right moves it 60 px; a tap clicks again.
      const points: Array<[number, number]> = [[400, 210], [460, 210], [100, 150]];
      const before = (await samplePixels(page, points)).rgb;
      await page.evaluate(() => {
        const d = (globalThis as any).document;
        const canvas = d.querySelector("#screen canvas");
        const r = canvas.getBoundingClientRect();
        const touch = (x: number, y: number) =>
          new (globalThis as any).Touch({
            identifier: 1,
            target: canvas,
            clientX: r.left + x,
            clientY: r.top + y,
          });
        const fire = (type: string, x: number, y: number) =>
          canvas.dispatchEvent(
            new (globalThis as any).TouchEvent(type, {
              bubbles: true,
              cancelable: true,
              touches: type === "touchend" ? [] : [touch(x, y)],
              changedTouches: [touch(x, y)],
            }),
          );
        const slide = (x: number, y: number, dx: number, dy: number) => {
          fire("touchstart", x, y);
          fire("touchmove", x + dx / 2, y + dy / 2);
          fire("touchmove", x + dx, y + dy);
          fire("touchend", x + dx, y + dy);
        };
        const tap = (x: number, y: number) => {
          fire("touchstart", x, y);
          fire("touchend", x, y);
        };
        // Pauses between gestures: a touch just after a tap would start a drag.
        const later = (fn: () => void) => new Promise((done) => setTimeout(() => done(fn()), 600));
        return later(() => slide(100, 200, 0, -60))
          .then(() => later(() => tap(100, 150)))
          .then(() => later(() => slide(100, 200, 40, 0)))
          .then(() => later(() => tap(100, 150)));
      });
      let after = before;
      for (let i = 0; i < 30 && (after[0] === before[0] || after[1] === before[1]); i++) {
        await new Promise((r) => setTimeout(r, 100));
        after = (await samplePixels(page, points)).rgb;
      }
      await pageScreenshot(page, "viewer-trackpad");
      assert(after[0] !== before[0], `no click dot at (400,210): ${hex(after[0])}`);
      assert(after[1] !== before[1], `no click dot at (460,210): ${hex(after[1])}`);
      assert.deepEqual(hex(after[2]), hex(before[2]), "a dot under the finger: not trackpad mode");
    });
  },
});

/** An RFB server (security None) that names its desktop `name` and then only listens. */
function namedServer(name: string): { port: number; close(): void } {
  return tcpServer(async (c) => {
    await c.write(new TextEncoder().encode(SERVER_VERSION));
    await readExactly(c, 12);
    await c.write(new Uint8Array([1, 1])); // one security type: None
    await readExactly(c, 1);
    await c.write(new Uint8Array(4)); // SecurityResult OK
    await readExactly(c, 1); // ClientInit
    const pixelFormat = encodePixelFormat(SERVER_PIXEL_FORMAT);
    await c.write(encodeServerInit({ width: 64, height: 48, pixelFormat, name }));
    await readToEof(c);
  });
}

Deno.test({
  name: "browser: the desktop's name is shown as text, never as markup (CVE-2017-18635)",
  ...common,
  async fn() {
    const name = `<img src=x onerror="document.body.dataset.pwned=1">Desk & "Co"`;
    const server = namedServer(name);
    try {
      await withViewer([], async ({ page, base }) => {
        await page.goto(`${base}/vnc.html?autoconnect=1`);
        await waitForStatus(page, /^Connected$/);
        await page.waitForFunction(
          () => (globalThis as any).document.getElementById("desktop-name").textContent !== "",
        );
        const shown = await page.evaluate(() => {
          const d = (globalThis as any).document;
          const e = d.getElementById("desktop-name");
          return {
            text: e.textContent,
            elements: e.children.length,
            title: d.title,
            pwned: d.body.dataset.pwned ?? null,
          };
        });
        assert.deepEqual(shown, { text: name, elements: 0, title: `${name} - vncws`, pwned: null });
      }, { target: `127.0.0.1:${server.port}` });
    } finally {
      server.close();
    }
  },
});

Deno.test({
  name:
    "browser: --max-per-token 1 with --view-only: the page probes before connecting, connects and shows view-only locked; a second page is told 429 and counts down",
  ...common,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vncws-viewer-" });
    const demoPort = freePort();
    const demo = await startVncws(["--demo", `127.0.0.1:${demoPort}`]);
    await Deno.writeTextFile(`${dir}/tokens`, `desk: 127.0.0.1:${demoPort}\n`);
    const args = [
      "--token-plugin",
      "TokenFile",
      "--token-source",
      `${dir}/tokens`,
      "--max-per-token",
      "1",
      "--view-only",
    ];
    // The second page is refused (429) by the probe, before any WebSocket.
    const expected = [/status of 429/];
    try {
      await withViewer(args, async ({ page, base }) => {
        await page.goto(`${base}/vnc.html?autoconnect=1&token=desk`);
        await waitForStatus(page, /^Connected$/);
        await page.click("#settings-panel summary");
        assert.deepEqual(await panel(page, "view_only"), {
          value: "true",
          disabled: true,
          note: "enforced by the server",
        });
        await page.keyboard.press("Escape");

        // Negative: while this session holds the token's one slot, a second page's probe is
        // refused: it says so with a countdown and does not connect.
        const second = await page.context().newPage();
        collectErrors(second, expected);
        await second.goto(`${base}/vnc.html?autoconnect=1&token=desk`);
        const status = await waitForStatus(
          second,
          /^Failed: refused by the proxy \(HTTP 429\).*Reconnecting in \d+ s$/,
        );
        assert.match(status, /429/);
        await second.close();
        // The first session is still up.
        assert.equal(await page.textContent("#status"), "Connected");
      }, { expected });
    } finally {
      await demo.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "browser: the page connects to its own origin (CSP 'self' covers its WebSocket); a URL's host elsewhere is ignored unless the operator names it",
  ...common,
  ignore: ignore || !hasOperatorOptions,
  async fn() {
    const otherPort = freePort();
    const other = await startVncws(["--demo", String(otherPort)]);
    const dir = await Deno.makeTempDir({ prefix: "vncws-viewer-" });
    try {
      // A link pointing the page at another server (here another vncws on another port):
      // the page connects to its own origin instead, and that WebSocket passes the CSP.
      await withViewer(["--demo"], async ({ page, base }) => {
        const warnings: string[] = [];
        page.on("console", (m) => {
          if (m.type() === "warning") warnings.push(m.text());
        });
        await page.goto(`${base}/vnc.html?autoconnect=1&host=localhost&port=${otherPort}`);
        await waitForStatus(page, /^Connected$/);
        assert.ok(warnings.some((w) => /ignoring host=localhost/.test(w)), warnings.join("\n"));
        assert.ok(warnings.some((w) => new RegExp(`ignoring port=${otherPort}`).test(w)));
        const csp = (await fetch(`${base}/vnc.html`)).headers.get("content-security-policy")!;
        assert.match(csp, /connect-src 'self';/);
      });
      assert.doesNotMatch(other.output(), /session end/, "the other server was reached");

      // Negative: the operator names the other server: the page goes there (the CSP lets
      // it; that server, not started with --allow-origin, then refuses the foreign Origin).
      await Deno.writeTextFile(
        `${dir}/defaults.json`,
        JSON.stringify({ host: "127.0.0.1", port: otherPort }),
      );
      const expected = [/CORS policy/, /ERR_FAILED/, /response code: 403/, /code: 1006/];
      await withViewer(
        ["--demo", "--viewer-defaults", `${dir}/defaults.json`],
        async ({ page, base }) => {
          await page.goto(`${base}/vnc.html?autoconnect=1`);
          await waitForStatus(page, /^Failed/);
          await other.waitFor(/refused .*kind=origin .*path=\/websockify/);
        },
        { expected },
      );
    } finally {
      await other.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
