/**
 * Bundled viewer → vncws → Xtigervnc (VNC password auth) in headless Chromium:
 * with the password in the URL the canvas shows the root window's colour set
 * by xsetroot; without one it prompts; with a wrong one it shows the failure.
 */
import {
  freePort,
  type Proc,
  skipUnless,
  startVncws,
  startXtigervnc,
  writeVncPasswordFile,
  type Xtigervnc,
} from "../../scripts/testing/util.ts";
import {
  CHROMIUM,
  hex,
  launchBrowser,
  pageScreenshot,
  samplePixels,
  screenshot,
  waitForStatus,
} from "./_browser.ts";

const BACKGROUND = 0x3366cc;
const PASSWORD = "s3cret12";

const ignore = skipUnless(
  ["Xtigervnc", "tigervncpasswd", "xsetroot", CHROMIUM],
  "apt-get install tigervnc-standalone-server tigervnc-tools x11-xserver-utils chromium",
);

/** Xtigervnc on a free display with VncAuth and a solid root window. */
async function startXvnc(dir: string): Promise<Xtigervnc> {
  await writeVncPasswordFile(`${dir}/passwd`, PASSWORD);
  const x = await startXtigervnc({
    geometry: "640x480",
    depth: 24,
    passwordFile: `${dir}/passwd`,
  });
  const st = await new Deno.Command("xsetroot", {
    args: ["-solid", hex(BACKGROUND)],
    env: { DISPLAY: `:${x.display}` },
  }).output();
  if (!st.success) {
    await x.stop();
    throw new Error(`xsetroot failed: ${new TextDecoder().decode(st.stderr)}`);
  }
  return x;
}

Deno.test({
  name: "browser: bundled viewer → vncws → Xtigervnc with a VNC password shows the root colour",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vncws-xvnc-" });
    const x = await startXvnc(dir);
    const port = freePort();
    let vncws: Proc | undefined;
    const browser = await launchBrowser();
    try {
      vncws = await startVncws(["127.0.0.1:" + port, `127.0.0.1:${x.rfbPort}`]);
      const { page } = browser;

      await page.goto(
        `http://127.0.0.1:${port}/vnc.html?autoconnect=1&path=websockify&password=${PASSWORD}`,
      );
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

      // Without a password in the URL the viewer asks for one.
      await page.goto(`http://127.0.0.1:${port}/vnc.html?autoconnect=1`);
      await waitForStatus(page, /^Password required/);
      await page.fill("#password", PASSWORD);
      await page.click("#credentials-send");
      await waitForStatus(page, /^Connected/);
      await page.click("#disconnect");
      await waitForStatus(page, /^Disconnected/);

      await page.goto(`http://127.0.0.1:${port}/vnc.html?autoconnect=1&password=wrong-one`);
      const status = await waitForStatus(page, /^Failed/);
      await pageScreenshot(page, "xvnc-wrong-password");
      if (!/auth/i.test(status)) {
        throw new Error(`failure does not mention authentication: ${status}`);
      }
    } finally {
      await browser.close();
      await vncws?.stop();
      await x.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
