/**
 * How light the bundled viewer is, against the demo desktop: the bytes on the
 * wire (headers and bodies as sent, gzipped where the browser allows) and the
 * requests until the first frame, and the time to that frame, beside the same
 * for Debian's full noVNC app (`--web /usr/share/novnc`), both served by
 * vncws. The numbers are printed and kept in
 * .out/test-screens/viewer-weight.json; only the sizes are compared (times
 * vary with the machine).
 */
import assert from "node:assert/strict";
import { BAR_COLOURS } from "../../src/demo/desktop.ts";
import { freePort, skipUnless, startVncws } from "../../scripts/testing/util.ts";
import { CHROMIUM, launchBrowser, SCREENS_DIR } from "./_browser.ts";

const NOVNC = "/usr/share/novnc";

interface Weight {
  /** Every response as it came over the wire: headers and (encoded) body. */
  bytes: number;
  /** Of these, the bodies decoded (what gzip saved is `decoded - bytes` roughly). */
  decodedBytes: number;
  requests: number;
  /** Of the requests, how many came gzipped. */
  gzipped: number;
  firstFrameMs: number;
}

/** Loads `url` in a fresh browser until the first bar's colour is painted. */
async function measure(url: string): Promise<Weight> {
  const browser = await launchBrowser();
  try {
    const { page } = browser;
    const sizes: Array<Promise<{ wire: number; decoded: number; gzip: boolean }>> = [];
    page.on("requestfinished", (req) => {
      sizes.push(
        Promise.all([req.sizes(), req.response()]).then(async ([s, res]) => {
          // responseBodySize counts the body as received (compressed).
          const encoding = (await res?.allHeaders())?.["content-encoding"] ?? "";
          const decoded = (await res?.body().catch(() => null))?.length ?? s.responseBodySize;
          return {
            wire: s.responseBodySize + s.responseHeadersSize,
            decoded,
            gzip: encoding === "gzip",
          };
        }).catch(() => ({ wire: 0, decoded: 0, gzip: false })),
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
    return {
      bytes: all.reduce((a, b) => a + b.wire, 0),
      decodedBytes: all.reduce((a, b) => a + b.decoded, 0),
      requests: all.length,
      gzipped: all.filter((x) => x.gzip).length,
      firstFrameMs,
    };
  } finally {
    await browser.close();
  }
}

Deno.test({
  name: "browser: weight to the first frame: the viewer page is under a third of noVNC's full app",
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
      const line = (w: Weight) =>
        `${w.bytes} bytes on the wire (${w.decodedBytes} decoded) in ${w.requests} requests ` +
        `(${w.gzipped} gzipped), first frame at ${w.firstFrameMs} ms`;
      console.log(`bundled viewer: ${line(page)}; Debian's noVNC app: ${line(novnc)}`);
      await Deno.mkdir(SCREENS_DIR, { recursive: true });
      await Deno.writeTextFile(
        `${SCREENS_DIR}viewer-weight.json`,
        JSON.stringify(report, null, 2) + "\n",
      );
      assert.ok(page.bytes > 0 && novnc.bytes > 0, "nothing measured");
      assert.ok(page.gzipped > 0, "the viewer's files did not come gzipped");
      // One bundle of the page and noVNC's library, gzipped, against the app's
      // many modules, images and translations (gzipped as well).
      assert.ok(
        page.bytes < novnc.bytes / 3,
        `the viewer's ${page.bytes} B are not under a third of the app's ${novnc.bytes} B`,
      );
    } finally {
      await viewer.stop();
      await app.stop();
    }
  },
});
