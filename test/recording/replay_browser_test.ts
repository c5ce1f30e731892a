/**
 * A replayed recording watched in noVNC: record a demo session with noVNC's
 * pixel format, serve it with `startReplayServer`, put vncws in front, and check
 * that the bundled viewer in headless Chromium shows the recorded colour bars.
 */
import { BAR_COLOURS } from "../../src/demo/desktop.ts";
import { readRecording } from "../../src/recording/codec.ts";
import { planReplay } from "../../src/recording/replay_plan.ts";
import { startReplayServer } from "../../src/recording/replay_server.ts";
import { freePort, skipUnless, startVncws } from "../../scripts/testing/util.ts";
import {
  CHROMIUM,
  hex,
  launchBrowser,
  samplePixels,
  screenshot,
  waitForStatus,
} from "../browser/_browser.ts";
import { PF_NOVNC, recordDemoSession } from "./_rfb.ts";
import { sleep } from "../../src/base/time.ts";

const barPoints: Array<[number, number]> = BAR_COLOURS.map((_, i) => [i * 100 + 50, 20]);

Deno.test({
  name: "replay: noVNC (bundled viewer through vncws) shows a replayed demo session",
  ignore: skipUnless(CHROMIUM, "apt-get install chromium"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const { update } = await recordDemoSession(`${dir}/rec`, PF_NOVNC, { width: 800, height: 600 });
    if (update.length < 800 * 600 * 4) throw new Error("the recorded update is not a full frame");
    const replay = startReplayServer(planReplay(await readRecording(`${dir}/rec.1`)), {
      port: 0,
      speed: 0,
    });
    const port = freePort();
    const vncws = await startVncws([String(port), `127.0.0.1:${replay.addr.port}`]);
    const browser = await launchBrowser();
    try {
      const { page } = browser;
      await page.goto(`http://127.0.0.1:${port}/vnc.html?autoconnect=1&path=websockify`);
      await waitForStatus(page, /^Connected/);
      let s = await samplePixels(page, barPoints);
      for (let i = 0; i < 50 && s.rgb.join() !== BAR_COLOURS.join(); i++) {
        await sleep(100);
        s = await samplePixels(page, barPoints);
      }
      await screenshot(page, "replay-connected");
      if (s.width !== 800 || s.height !== 600) {
        throw new Error(`canvas is ${s.width}x${s.height}, expected the recorded 800x600`);
      }
      if (s.rgb.join() !== BAR_COLOURS.join()) {
        throw new Error(
          `replayed bars not shown: got ${s.rgb.map(hex)}, want ${BAR_COLOURS.map(hex)}`,
        );
      }
    } finally {
      await browser.close();
      await vncws.stop();
      await replay.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
