/**
 * QEMU audio in the bundled viewer (src/web/viewer/audio.js), in headless
 * Chromium: against `vncws --demo`, which announces audio and streams a
 * 440 Hz tone, the Sound toggle appears muted; pressed, the page decodes and
 * schedules the samples (their zero crossings say 440 Hz); pressed again, the
 * stream ends. Against Xtigervnc (no audio) no toggle shows and the session
 * works. These tests also guard the noVNC internals audio.js hooks: an
 * upgrade that changes them shows up here as no toggle or no samples.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { TONE_HZ } from "../../src/demo/audio.ts";
import { skipUnless } from "../../scripts/testing/util.ts";
import { CHROMIUM, samplePixels, waitForStatus } from "./_browser.ts";
import { startXvnc, withViewer, XVNC_PROGRAMS } from "./viewer_page.ts";

interface AudioStats {
  enabled: boolean;
  streaming: boolean;
  messages: number;
  samples: number;
  scheduled: number;
  hz: number;
}

function stats(page: Page): Promise<AudioStats> {
  return page.evaluate(() => ({ ...(globalThis as any).vncwsAudio }));
}

async function waitForStats(page: Page, ok: (s: AudioStats) => boolean, what: string) {
  const deadline = Date.now() + 15000;
  let s = await stats(page);
  while (!ok(s)) {
    if (Date.now() > deadline) throw new Error(`${what}; audio stats: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 100));
    s = await stats(page);
  }
  return s;
}

Deno.test({
  name: "browser: the demo's tone plays after the Sound toggle is pressed, and stops on mute",
  ignore: skipUnless(CHROMIUM, "apt-get install chromium"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withViewer(["--demo"], async ({ page, base }) => {
      await page.goto(`${base}/vnc.html?autoconnect=1`);
      await waitForStatus(page, /^Connected/);
      await page.waitForSelector("#audio:not([hidden])", { timeout: 15000 });
      assert.equal(await page.getAttribute("#audio", "aria-pressed"), "false", "muted at first");
      assert.equal((await stats(page)).samples, 0, "no samples before the toggle is pressed");

      await page.click("#audio");
      assert.equal(await page.getAttribute("#audio", "aria-pressed"), "true");
      const playing = await waitForStats(
        page,
        (s) => s.streaming && s.samples >= 44100 / 2,
        "no half second of samples after unmuting",
      );
      assert.ok(playing.scheduled > 0, "samples decoded but nothing scheduled for WebAudio");
      assert.ok(
        Math.abs(playing.hz - TONE_HZ) <= TONE_HZ * 0.05,
        `the samples cross zero at ${playing.hz} Hz, not ~${TONE_HZ} Hz`,
      );

      await page.click("#audio");
      assert.equal(await page.getAttribute("#audio", "aria-pressed"), "false");
      const stopped = await waitForStats(page, (s) => !s.streaming, "the stream did not end");
      // After the server's end message nothing more arrives.
      await new Promise((r) => setTimeout(r, 400));
      assert.equal((await stats(page)).samples, stopped.samples, "samples after mute");
      // The session is unharmed: still connected.
      assert.match((await page.textContent("#status")) ?? "", /^Connected/);
    }),
});

Deno.test({
  name: "browser: a VNC server without audio shows no Sound toggle and the session works",
  ignore: skipUnless([...XVNC_PROGRAMS, CHROMIUM], "apt-get install tigervnc-standalone-server"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const background = 0x33aa66;
    const x = await startXvnc({ background });
    try {
      await withViewer([], async ({ page, base }) => {
        await page.goto(`${base}/vnc.html?autoconnect=1&path=websockify`);
        await waitForStatus(page, /^Connected/);
        let s = await samplePixels(page, [[10, 10]]);
        for (let i = 0; i < 50 && s.rgb[0] !== background; i++) {
          await new Promise((r) => setTimeout(r, 100));
          s = await samplePixels(page, [[10, 10]]);
        }
        assert.equal(s.rgb[0], background, "the desktop is drawn");
        assert.equal(await page.isHidden("#audio"), true, "no Sound toggle without audio");
        assert.equal((await stats(page)).samples, 0);
        assert.match((await page.textContent("#status")) ?? "", /^Connected/);
      }, { target: `127.0.0.1:${x.rfbPort}` });
    } finally {
      await x.stop();
    }
  },
});
