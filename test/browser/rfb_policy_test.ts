/**
 * The view-only and clipboard policy end to end: the bundled viewer (noVNC)
 * in headless Chromium → vncws → Xtigervnc, checked on the X server's side.
 * View-only: keys and clicks never reach the X server (xev on the root
 * window sees none) while the picture keeps updating; without
 * `--view-only` they do. Clipboard: for each `--clipboard` mode, text set on
 * the X side (xclip) reaches the viewer's clipboard box or is dropped, and
 * text sent from the viewer becomes the X selection or is dropped. A
 * recorded session of them is framed again, both ways, without an error.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import {
  freePort,
  type Proc,
  skipUnless,
  startProcess,
  startVncws,
  startXtigervnc,
  waitUntil,
  writeVncPasswordFile,
} from "../../scripts/testing/util.ts";
import { readRecording } from "../../src/recording/codec.ts";
import type { ClipboardMode } from "../../src/rfb/policy.ts";
import { recordedSteps, runThroughFilter } from "../../scripts/testing/rfb_session.ts";
import { CHROMIUM, hex, launchBrowser, samplePixels, waitForStatus } from "./_browser.ts";

const ignore = skipUnless(
  ["Xtigervnc", "xsetroot", "xev", "xclip", CHROMIUM],
  "apt-get install tigervnc-standalone-server x11-xserver-utils x11-utils xclip chromium",
);

/** X displays of this test file (:50–:59 are the RFB policy tests'). */
const DISPLAYS = [54, 55, 56];

async function xsetroot(display: number, rgb: number): Promise<void> {
  const r = await new Deno.Command("xsetroot", {
    args: ["-solid", hex(rgb)],
    env: { DISPLAY: `:${display}` },
  }).output();
  if (!r.success) throw new Error(`xsetroot failed: ${new TextDecoder().decode(r.stderr)}`);
}

/** Connects the bundled viewer to vncws on `port` and waits for the desktop. */
async function connect(page: Page, port: number): Promise<void> {
  await page.goto(`http://127.0.0.1:${port}/vnc.html?autoconnect=1&path=websockify`);
  await waitForStatus(page, /^Connected/);
}

/** Waits until the canvas shows `rgb` at its centre. */
async function waitForColour(page: Page, rgb: number): Promise<void> {
  await waitUntil(
    async () => (await samplePixels(page, [[160, 120]])).rgb[0] === rgb,
    `the canvas showing ${hex(rgb)}`,
  );
}

/**
 * Makes the page believe the server enforces nothing: the route probe (which
 * says `viewOnly`, so the bundled page locks its own input) is answered
 * `{"ok":true}` in the browser. The page then sends input as a hostile or
 * edited page would, and only vncws stands in the way.
 */
async function hideServerPolicy(page: Page): Promise<void> {
  await page.route(
    "**/websockify*",
    (route) =>
      route.request().headers()["x-vncws-probe"]
        ? route.fulfill({ json: { ok: true } })
        : route.continue(),
  );
}

/** Clicks the canvas and types, as a user of the viewer would. */
async function sendInput(page: Page): Promise<void> {
  const canvas = (await page.$("#screen canvas"))!;
  const box = (await canvas.boundingBox())!;
  await page.mouse.click(box.x + 100, box.y + 100);
  await page.keyboard.type("qz");
}

Deno.test({
  name: "view-only: keys and clicks from Chromium never reach the X server, the picture updates",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const x = await startXtigervnc({ display: DISPLAYS[0], geometry: "320x240", depth: 24 });
    const procs: Proc[] = [];
    const browser = await launchBrowser();
    try {
      await xsetroot(x.display, 0x204080);
      // What reaches the X server: xev selects key and button events on the root window.
      const xev = startProcess("xev", [
        "-root",
        "-display",
        `:${x.display}`,
        "-event",
        "keyboard",
        "-event",
        "button",
      ]);
      procs.push(xev);
      const viewOnly = freePort();
      const plain = freePort();
      const vo = await startVncws([
        "--view-only",
        `127.0.0.1:${viewOnly}`,
        `127.0.0.1:${x.rfbPort}`,
      ]);
      procs.push(vo);
      procs.push(await startVncws([`127.0.0.1:${plain}`, `127.0.0.1:${x.rfbPort}`]));
      const { page } = browser;
      await hideServerPolicy(page);

      await connect(page, viewOnly);
      await waitForColour(page, 0x204080);
      await sendInput(page);
      // The picture still updates through the view-only session.
      await xsetroot(x.display, 0x40a020);
      await waitForColour(page, 0x40a020);
      await page.click("#disconnect");
      await waitForStatus(page, /^Disconnected/);
      // vncws dropped them all (two keys down and up, a click's press and release at least).
      const end = await vo.waitFor(/session end .*dropped=(\{[^}]*\})/);
      const dropped = JSON.parse(/session end .*dropped=(\{[^}]*\})/.exec(end)![1]);
      assert.ok(dropped.key >= 4 && dropped.pointer >= 2, JSON.stringify(dropped));
      assert.match(vo.output(), /rfb message dropped .*kind=pointer why=view-only/);
      assert.doesNotMatch(xev.output(), /KeyPress|ButtonPress/, "input reached the X server");

      // Negative: the same viewer through vncws without --view-only does reach it.
      await connect(page, plain);
      await waitForColour(page, 0x40a020);
      await sendInput(page);
      await xev.waitFor(/ButtonPress/);
      await xev.waitFor(/KeyPress event.*\n.*\n.*keysym 0x71, q/);
    } finally {
      await browser.close();
      for (const p of procs) await p.stop();
      await x.stop();
    }
  },
});

/** Sets the X CLIPBOARD selection to `text`; xclip serves it once in the foreground. */
function setXClipboard(display: number, text: string): Proc {
  const p = startProcess("sh", [
    "-c",
    `printf %s "$1" | exec xclip -quiet -loops 1 -selection clipboard -display ":${display}"`,
    "sh",
    text,
  ]);
  return p;
}

/** The X CLIPBOARD selection's text, or "" when there is none. */
async function readXClipboard(display: number): Promise<string> {
  const r = await new Deno.Command("xclip", {
    args: ["-o", "-selection", "clipboard", "-display", `:${display}`],
    stderr: "null",
  }).output();
  return r.success ? new TextDecoder().decode(r.stdout) : "";
}

const MODES: ClipboardMode[] = ["both", "to-client", "to-server", "none"];

Deno.test({
  name: "--clipboard: each mode lets through exactly its directions (X selection ↔ viewer)",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const x = await startXtigervnc({ display: DISPLAYS[1], geometry: "320x240", depth: 24 });
    const dir = await Deno.makeTempDir({ prefix: "vncws-rfb-policy-" });
    const procs: Proc[] = [];
    const browser = await launchBrowser();
    try {
      const { page } = browser;
      for (const mode of MODES) {
        const toClient = mode === "both" || mode === "to-client";
        const toServer = mode === "both" || mode === "to-server";
        const port = freePort();
        // The to-client session is recorded (the viewer's bytes as sent), to be framed again below.
        const record = mode === "to-client" ? ["--record", `${dir}/session.vncrec`] : [];
        const vncws = await startVncws([
          ...record,
          "--clipboard",
          mode,
          `127.0.0.1:${port}`,
          `127.0.0.1:${x.rfbPort}`,
        ]);
        procs.push(vncws);
        await connect(page, port);
        // The picture goes on, through a framed server stream too (to-server, none).
        const colour = 0x102030 + 0x200000 * MODES.indexOf(mode);
        await xsetroot(x.display, colour);
        await waitForColour(page, colour);

        // Server → viewer: the X selection changes; the viewer's clipboard box shows it.
        const fromX = `from-x-${mode}`;
        procs.push(setXClipboard(x.display, fromX));
        if (toClient) {
          await waitUntil(
            async () => (await page.inputValue("#clipboard")) === fromX,
            `${mode}: the viewer's clipboard showing ${fromX}`,
          );
        } else {
          await vncws.waitFor(/rfb message dropped .*kind=server_cut_text/);
          assert.notEqual(await page.inputValue("#clipboard"), fromX, mode);
        }

        // Viewer → server: "Send to remote" from the clipboard box.
        const fromViewer = `from-viewer-${mode}`;
        await page.$eval(
          "#clipboard-panel",
          (d) => (d as unknown as { open: boolean }).open = true,
        );
        await page.fill("#clipboard", fromViewer);
        await page.click("#clipboard-send");
        if (toServer) {
          await waitUntil(
            async () => (await readXClipboard(x.display)) === fromViewer,
            `${mode}: the X selection becoming ${fromViewer}`,
          );
        } else {
          await vncws.waitFor(/rfb message dropped .*kind=client_cut_text/);
          assert.notEqual(await readXClipboard(x.display), fromViewer, mode);
        }
        await sendInput(page);
        await page.click("#disconnect");
        await waitForStatus(page, /^Disconnected/);
        await vncws.waitFor(/session end/);
      }

      // The recorded real session, framed again with both streams framed, in one-byte reads.
      const files = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".vncrec"));
      assert.equal(files.length, 1);
      const { frames } = await readRecording(`${dir}/${files[0].name}`);
      const policy = { viewOnly: true, clipboard: "none" } as const;
      const run = await runThroughFilter(recordedSteps(frames), policy, {
        readSize: 1,
        serverChunk: 1,
        clientChunk: 1,
      });
      assert.equal(run.error, undefined, String(run.error));
      assert.equal(run.dropped.server_cut_text, 1, JSON.stringify(run.dropped));
      assert.equal(run.dropped.client_cut_text, 1, JSON.stringify(run.dropped));
      assert.ok(run.dropped.key >= 4 && run.dropped.pointer >= 2, JSON.stringify(run.dropped));
    } finally {
      await browser.close();
      for (const p of procs) await p.stop();
      await x.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "policy over VncAuth: the viewer logs in through vncws, keys are dropped, the picture shows",
  ignore: ignore || skipUnless("tigervncpasswd", "apt-get install tigervnc-tools"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vncws-rfb-policy-" });
    await writeVncPasswordFile(`${dir}/passwd`, "s3cret12");
    const x = await startXtigervnc({
      display: DISPLAYS[2],
      geometry: "320x240",
      depth: 24,
      passwordFile: `${dir}/passwd`,
    });
    const procs: Proc[] = [];
    const browser = await launchBrowser();
    try {
      const xev = startProcess("xev", ["-root", "-display", `:${x.display}`, "-event", "keyboard"]);
      procs.push(xev);
      const port = freePort();
      const vncws = await startVncws([
        "--view-only",
        "--clipboard",
        "none",
        `127.0.0.1:${port}`,
        `127.0.0.1:${x.rfbPort}`,
      ]);
      procs.push(vncws);
      const { page } = browser;
      await hideServerPolicy(page);
      await xsetroot(x.display, 0x6030c0);
      await page.goto(
        `http://127.0.0.1:${port}/vnc.html?autoconnect=1&path=websockify&password=s3cret12`,
      );
      await waitForStatus(page, /^Connected/);
      await waitForColour(page, 0x6030c0);
      await sendInput(page);
      await page.click("#disconnect");
      await waitForStatus(page, /^Disconnected/);
      await vncws.waitFor(/session end .*dropped=\{[^}]*"key":[4-9]/);
      assert.doesNotMatch(xev.output(), /KeyPress/);
      // Negative: a wrong password is the server's refusal, passed on as it is.
      await page.goto(`http://127.0.0.1:${port}/vnc.html?autoconnect=1&password=wrong-one`);
      assert.match(await waitForStatus(page, /^(Failed|Wrong password)/), /auth/i);
    } finally {
      await browser.close();
      for (const p of procs) await p.stop();
      await x.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
