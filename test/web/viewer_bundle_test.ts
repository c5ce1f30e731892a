/**
 * The committed viewer build (src/web/viewer/dist/) matches its sources:
 * rebuilt into a temporary directory, every file must be byte for byte the
 * same. When this fails, run `deno task build:viewer` and commit dist/.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { buildViewer, DIST_FILES, VIEWER_DIST } from "../../scripts/build_viewer.ts";
import { tempDir } from "../../scripts/testing/util.ts";

Deno.test("viewer build: the committed dist/ is what the sources build to", async () => {
  using dir = tempDir();
  await buildViewer(dir.path);
  for (const name of DIST_FILES) {
    const fresh = Deno.readFileSync(join(dir.path, name));
    const committed = Deno.readFileSync(join(VIEWER_DIST, name));
    assert.ok(
      fresh.length === committed.length && fresh.every((b, i) => b === committed[i]),
      `src/web/viewer/dist/${name} is stale: run \`deno task build:viewer\` and commit it`,
    );
  }
});

Deno.test("viewer build: a changed source makes the check fail (the build is not a copy)", async () => {
  using dir = tempDir();
  await buildViewer(dir.path);
  const built = Deno.readTextFileSync(join(dir.path, "vnc.js"));
  // One bundle: the page's modules and noVNC's RFB are in it, no module imports left.
  assert.ok(built.includes("vnc_settings.json"), "the page's settings module is bundled");
  assert.ok(built.includes("Security handshake failed"), "noVNC's RFB is bundled");
  assert.ok(!/\bimport\s*[{(*"']|\bfrom\s*["']/.test(built), "the bundle still imports modules");
  assert.ok(!built.includes("\n//"), "comments survived minifying");
  const committed = Deno.readTextFileSync(join(VIEWER_DIST, "vnc.js"));
  assert.notEqual(committed + " ", built, "a changed byte must compare unequal");
});
