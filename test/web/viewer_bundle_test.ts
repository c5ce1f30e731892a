/**
 * The committed viewer build (src/web/viewer/dist/) matches its sources:
 * rebuilt into a temporary directory, every file must be byte for byte the
 * same. When this fails, run `deno task build:viewer` and commit dist/.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { buildViewer, DIST_FILES, VIEWER_DIST, VIEWER_SRC } from "../../scripts/build_viewer.ts";
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
  assert.equal(built, committed, "the unchanged sources build to the committed bundle");

  // Negative: one string changed in a copy of the sources builds to something else. The
  // copy sits beside the sources (a hidden directory) so their node_modules paths resolve.
  const copyPath = Deno.makeTempDirSync({ dir: dirname(VIEWER_SRC), prefix: ".viewer_copy_" });
  using copy = {
    path: copyPath,
    [Symbol.dispose]: () => Deno.removeSync(copyPath, { recursive: true }),
  };
  for (const entry of Deno.readDirSync(VIEWER_SRC)) {
    if (entry.isFile) Deno.copyFileSync(join(VIEWER_SRC, entry.name), join(copy.path, entry.name));
  }
  const reasons = join(copy.path, "reasons.js");
  const source = Deno.readTextFileSync(reasons);
  assert.ok(source.includes("vncws is shutting down"), "the string to change is in reasons.js");
  Deno.writeTextFileSync(reasons, source.replace("vncws is shutting down", "vncws is going down"));
  using out = tempDir();
  await buildViewer(out.path, copy.path);
  const changed = Deno.readTextFileSync(join(out.path, "vnc.js"));
  assert.ok(changed.includes("vncws is going down"), "the copy's change is in its bundle");
  assert.notEqual(changed, committed, "a changed source must not build to the committed bundle");
});
