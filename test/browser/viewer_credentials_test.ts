/**
 * The bundled viewer's credentials form for VeNCrypt Plain, in headless
 * Chromium, through vncws to a scripted server (test/browser/_plain_server.ts)
 * that offers only VeNCrypt 0.2 with subtype Plain: the page asks for a
 * username and password, the server receives exactly the pair typed, and the
 * page connects; a wrong pair gets the server's reason, "Wrong password" and
 * the form again, and the right pair then connects.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { skipUnless } from "../../scripts/testing/util.ts";
import { CHROMIUM, pageScreenshot, waitForStatus } from "./_browser.ts";
import { PLAIN_FAILURE_REASON, type PlainServer, startPlainServer } from "./_plain_server.ts";
import { withViewer } from "./viewer_page.ts";

// Non-ASCII on purpose: noVNC sends both as UTF-8.
const RIGHT = { username: "alice", password: "s3cret wörd" };

async function sendCredentials(page: Page, username: string, password: string): Promise<void> {
  await page.fill("#username", username);
  await page.fill("#password", password);
  await page.click("#credentials-send");
}

/** noVNC logs the refused handshake as an error; the page shows it as "Wrong password". */
const REFUSAL_LOGGED = [/^Failed when connecting: Security negotiation failed on security result/];

/**
 * Runs `fn` with the viewer at "Password required" in front of vncws and
 * the scripted Plain server; checks the server saw no broken handshake.
 */
async function atPlainPrompt(
  fn: (page: Page, server: PlainServer) => Promise<void>,
  expected: RegExp[] = [],
): Promise<void> {
  const server = startPlainServer(RIGHT);
  try {
    await withViewer([], async ({ page, base }) => {
      await page.goto(`${base}/vnc.html?autoconnect=1&path=websockify`);
      await waitForStatus(page, /^Password required/);
      await fn(page, server);
    }, { target: `127.0.0.1:${server.port}`, expected });
    assert.deepEqual(server.problems, []);
  } finally {
    server.close();
  }
}

Deno.test({
  name:
    "browser: VeNCrypt Plain asks for a username and password, and the server gets exactly them",
  ignore: skipUnless(CHROMIUM, "apt-get install chromium"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    atPlainPrompt(async (page, server) => {
      assert.equal(await page.isVisible("#credentials"), true, "the form shows");
      assert.equal(await page.isVisible("#username"), true, "Plain asks for a username");
      assert.equal(await page.isVisible("#password"), true);
      assert.equal(await page.isHidden("#credentials-error"), true, "no error yet");
      assert.deepEqual(server.received, [], "nothing sent before the form");
      await pageScreenshot(page, "viewer-credentials-plain");

      await sendCredentials(page, RIGHT.username, RIGHT.password);
      await waitForStatus(page, /^Connected/);
      assert.deepEqual(server.received, [RIGHT]);
      assert.equal(await page.isHidden("#credentials"), true, "the form is gone");
      assert.equal(await page.textContent("#desktop-name"), "plain test");
      await pageScreenshot(page, "viewer-credentials-plain-connected");
    }),
});

Deno.test({
  name: "browser: a wrong Plain pair says so and asks again; the right one then connects",
  ignore: skipUnless(CHROMIUM, "apt-get install chromium"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    atPlainPrompt(async (page, server) => {
      await sendCredentials(page, RIGHT.username, "wrong");
      const status = await waitForStatus(page, /^Wrong password/);
      assert.ok(status.includes(PLAIN_FAILURE_REASON), `the server's reason: ${status}`);
      assert.deepEqual(server.received, [{ username: RIGHT.username, password: "wrong" }]);
      assert.equal(await page.isVisible("#credentials"), true, "the form asks again");
      assert.match((await page.textContent("#credentials-error")) ?? "", /refused the password/);
      assert.equal(await page.inputValue("#password"), "", "the wrong password is cleared");
      assert.equal(await page.inputValue("#username"), RIGHT.username, "the username stays");
      await pageScreenshot(page, "viewer-credentials-plain-wrong");

      await sendCredentials(page, RIGHT.username, RIGHT.password);
      await waitForStatus(page, /^Connected/);
      assert.deepEqual(server.received.at(-1), RIGHT);
      assert.equal(server.received.length, 2, "one wrong pair, one right");
    }, REFUSAL_LOGGED),
});
