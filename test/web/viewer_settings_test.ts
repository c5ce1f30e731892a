/**
 * The operator's viewer settings: what a settings file may hold, and
 * `/vnc_settings.json` from the web handler (bundled viewer and --web DIR).
 */
import assert from "node:assert/strict";
import { parseRequestHead } from "../../src/http/head.ts";
import { createWebHandler } from "../../src/web/static.ts";
import {
  parseViewerSettings,
  readViewerSettings,
  VIEWER_SETTINGS_PATH,
  type ViewerSettingsPair,
} from "../../src/web/viewer_settings.ts";
import { tempDir } from "../../scripts/testing/util.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function get(path: string, method = "GET") {
  return parseRequestHead(enc.encode(`${method} ${path} HTTP/1.1\r\nHost: x\r\n\r\n`), {
    maxHeadBytes: 16384,
    maxHeaders: 100,
  });
}

Deno.test("viewer settings: an object of strings, numbers and booleans is accepted as is", () => {
  const text = '{"resize": "scale", "quality": 6, "view_only": true, "path": "websockify"}';
  assert.deepEqual(parseViewerSettings(text, "f"), {
    resize: "scale",
    quality: 6,
    view_only: true,
    path: "websockify",
  });
  assert.deepEqual(parseViewerSettings("{}", "f"), {});
});

Deno.test("viewer settings: not JSON, not an object, or another value type is refused by name", () => {
  assert.throws(() => parseViewerSettings("{resize: scale}", "--viewer-defaults d.json"), {
    message: /--viewer-defaults d\.json is not valid JSON/,
  });
  assert.throws(() => parseViewerSettings('["resize"]', "f"), { message: /not an array/ });
  assert.throws(() => parseViewerSettings("null", "f"), { message: /not null/ });
  assert.throws(() => parseViewerSettings('"scale"', "f"), { message: /not string/ });
  assert.throws(() => parseViewerSettings('{"a": {"b": 1}}', "f"), {
    message: /"a" must be a string, number or boolean, not object/,
  });
  assert.throws(() => parseViewerSettings('{"a": null}', "f"), { message: /"a".*not null/ });
  assert.throws(() => parseViewerSettings('{"a": [1]}', "f"), { message: /"a".*not an array/ });
});

Deno.test("viewer settings: a panel value the page cannot read is refused, naming the key and what it takes", () => {
  assert.throws(() => parseViewerSettings('{"quality": "high"}', "--viewer-mandatory m.json"), {
    message:
      /--viewer-mandatory m\.json: "quality" is "high", which the viewer cannot read; give an integer from 0 to 9/,
  });
  assert.throws(() => parseViewerSettings('{"resize": "fit"}', "f"), {
    message: /"resize" is "fit".*one of "off", "scale", "remote"/,
  });
  assert.throws(() => parseViewerSettings('{"view_only": ""}', "f"), {
    message: /"view_only" is "".*true or false/,
  });
  // Negatives: readable forms pass (numbers as text, noVNC's "none" for resize, any flag),
  // and keys that are not panel settings keep any text.
  assert.deepEqual(
    parseViewerSettings(
      '{"quality": "7", "resize": "none", "view_only": "yes", "host": "x", "toString": "y"}',
      "f",
    ),
    { quality: "7", resize: "none", view_only: "yes", host: "x", toString: "y" },
  );
});

Deno.test("viewer settings: a missing file names the option and the path", () => {
  using dir = tempDir();
  assert.throws(() => readViewerSettings(`${dir.path}/none.json`, "--viewer-mandatory"), {
    message: /--viewer-mandatory .*none\.json: no such file/,
  });
  Deno.writeTextFileSync(`${dir.path}/ok.json`, '{"shared": false}');
  assert.deepEqual(readViewerSettings(`${dir.path}/ok.json`, "--viewer-mandatory"), {
    shared: false,
  });
});

Deno.test("web: /vnc_settings.json serves the settings as the handler asks for them", async () => {
  let settings: ViewerSettingsPair = {
    defaults: { resize: "scale" },
    mandatory: { view_only: true },
  };
  const web = createWebHandler({ root: "", dirListing: false, viewerSettings: () => settings });
  const res = await web(get(VIEWER_SETTINGS_PATH));
  assert.equal(res.status, 200);
  assert.equal(res.headers?.["Content-Type"], "application/json; charset=utf-8");
  assert.equal(res.headers?.["Cache-Control"], "no-cache");
  assert.equal(res.headers?.["X-Content-Type-Options"], "nosniff");
  assert.deepEqual(JSON.parse(dec.decode(res.body as Uint8Array)), settings);
  // A reload swaps the settings: the next request sees the new ones.
  settings = { defaults: {}, mandatory: { shared: false } };
  const again = await web(get(VIEWER_SETTINGS_PATH));
  assert.deepEqual(JSON.parse(dec.decode(again.body as Uint8Array)), settings);
});

Deno.test("web: /vnc_settings.json is two empty objects when nothing is configured, with --web DIR too", async () => {
  using dir = tempDir();
  const web = createWebHandler({ root: dir.path, dirListing: false });
  const res = await web(get(VIEWER_SETTINGS_PATH));
  assert.equal(res.status, 200);
  assert.deepEqual(JSON.parse(dec.decode(res.body as Uint8Array)), {
    defaults: {},
    mandatory: {},
  });
  // Other names near it are plain files of the root (none here).
  assert.equal((await web(get("/vnc_settings.json.bak"))).status, 404);
  assert.equal((await web(get("/defaults.json"))).status, 404);
});

Deno.test("web: /vnc_settings.json is not served with the web server off", async () => {
  const web = createWebHandler({
    root: null,
    dirListing: false,
    viewerSettings: () => ({ defaults: { a: 1 }, mandatory: {} }),
  });
  assert.equal((await web(get(VIEWER_SETTINGS_PATH))).status, 405);
});
