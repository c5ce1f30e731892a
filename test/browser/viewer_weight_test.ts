/**
 * How light the bundled viewer is, against the demo desktop: the bytes the
 * page transfers until the first frame and the time to that frame, beside the
 * same for Debian's full noVNC app (`--web /usr/share/novnc`). The numbers are
 * printed and kept in .out/test-screens/viewer-weight.json; only the sizes are
 * compared (times vary with the machine).
 */
import assert from "node:assert/strict";
import { BAR_COLOURS } from "../../src/demo/desktop.ts";
import { freePort, skipUnless, startVncws } from "../../scripts/testing/util.ts";
import { CHROMIUM, launchBrowser, SCREENS_DIR } from "./_browser.ts";

const NOVNC = "/usr/share/novnc";

interface Weight {
  /** Every response: headers and body. */
  bytes: number;
  /** Of these, the page's own files: not noVNC's library (core/, vendor/). */
  ownBytes: number;
  requests: number;
  firstFrameMs: number;
}

/** Loads `url` in a fresh browser until the first bar's colour is painted. */
async function measure(url: string): Promise<Weight> {
  const browser = await launchBrowser();
  try {
    const { page } = browser;
    const sizes: Array<Promise<{ own: boolean; n: number }>> = [];
    page.on("requestfinished", (req) => {
      const own = !/^\/(core|vendor)\//.test(new URL(req.url()).pathname);
      sizes.push(
        req.sizes().then((s) => ({ own, n: s.responseBodySize + s.responseHeadersSize }))
          .catch(() => ({ own, n: 0 })),
      );
    });
    await page.goto(url);
    const handle = await page.waitForFunction(
      (want) => {
        // Runs in the page: the DOM types are not in Deno's lib, hence `any`.
        const d = (globalThis as any).document;
        const canvas = [...d.querySelectorAll("canvas")].find((c: any) => c.width >= 800);
        if (!canvas) return false;
        const px = canvas.getContext("2d").getImageData(150, 20, 1, 1).data;
        const rgb = (px[0] << 16) | (px[1] << 8) | px[2];
        return rgb === want ? (globalThis as any).performance.now() : false;
      },
      BAR_COLOURS[1],
      { polling: "raf", timeout: 20000 },
    );
    const firstFrameMs = Math.round(await handle.jsonValue() as number);
    const all = await Promise.all(sizes);
    const sum = (list: Array<{ n: number }>) => list.reduce((a, b) => a + b.n, 0);
    return {
      bytes: sum(all),
      ownBytes: sum(all.filter((x) => x.own)),
      requests: all.length,
      firstFrameMs,
    };
  } finally {
    await browser.close();
  }
}

Deno.test({
  name:
    "browser: weight to the first frame: the viewer page adds far less to noVNC than its full app",
  ignore: skipUnless([CHROMIUM, `${NOVNC}/vnc.html`], "apt-get install chromium novnc"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const ours = freePort();
    const theirs = freePort();
    const viewer = await startVncws(["--demo", String(ours)]);
    const app = await startVncws(["--demo", "--web", NOVNC, String(theirs)]);
    try {
      const page = await measure(`http://127.0.0.1:${ours}/vnc.html?autoconnect=1`);
      const novnc = await measure(
        `http://127.0.0.1:${theirs}/vnc.html?autoconnect=1&path=websockify`,
      );
      const report = { viewer: page, novncApp: novnc };
      console.log(
        `bundled viewer: ${page.bytes} bytes (${page.ownBytes} its own) in ${page.requests} ` +
          `requests, first frame at ${page.firstFrameMs} ms; Debian's noVNC app: ` +
          `${novnc.bytes} bytes (${novnc.ownBytes} its own) in ${novnc.requests} requests, ` +
          `first frame at ${novnc.firstFrameMs} ms`,
      );
      await Deno.mkdir(SCREENS_DIR, { recursive: true });
      await Deno.writeTextFile(
        `${SCREENS_DIR}viewer-weight.json`,
        JSON.stringify(report, null, 2) + "\n",
      );
      assert.ok(page.bytes > 0 && novnc.bytes > 0, "nothing measured");
      // Both load noVNC's library (core/, vendor/: most of the bytes); what the
      // page adds around it must stay well below what noVNC's app adds.
      assert.ok(page.bytes < novnc.bytes, `${page.bytes} B, noVNC's app ${novnc.bytes} B`);
      assert.ok(
        page.ownBytes < novnc.ownBytes / 2,
        `the page's own ${page.ownBytes} B are not well below the app's ${novnc.ownBytes} B`,
      );
    } finally {
      await viewer.stop();
      await app.stop();
    }
  },
});
