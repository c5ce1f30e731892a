/**
 * `deno task build:viewer`: builds the bundled viewer the browser loads,
 * src/web/viewer/dist/, from the readable sources beside it:
 * - `vnc.js`: the page's modules and the noVNC library they import, as one
 *   minified ES module (`deno bundle`);
 * - `vnc.css`: the style sheet, minified.
 *
 * vnc.html is served from the sources as it is (it names `vnc.js` and `vnc.css`).
 *
 * The output is committed: a fresh checkout and the compiled binary serve it
 * without a bundler step. The build is deterministic (same sources, same
 * bytes), so test/web/viewer_bundle_test.ts rebuilds into a temporary
 * directory and fails when the committed copy is stale. Edit the sources,
 * then run this task and commit dist/ with them.
 * @module
 */
import { join } from "node:path";

const ROOT = join(import.meta.dirname!, "..");
/** The readable sources (the source of truth). */
export const VIEWER_SRC: string = join(ROOT, "src", "web", "viewer");
/** Where the committed build lives. */
export const VIEWER_DIST: string = join(VIEWER_SRC, "dist");
/** The files of a build, by name. */
export const DIST_FILES: readonly string[] = ["vnc.js", "vnc.css"];

async function bundle(entry: string, output: string): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--minify", "--platform", "browser", "-o", output, entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim();
    throw new Error(
      `deno bundle ${entry} failed (exit ${out.code}): ${err}\n` +
        "is noVNC installed? run `deno install` in the vncws directory",
    );
  }
}

/**
 * Builds the viewer from `srcDir` (the sources; a copy in tests) into
 * `outDir` (created if missing); returns the files written.
 */
export async function buildViewer(
  outDir: string = VIEWER_DIST,
  srcDir: string = VIEWER_SRC,
): Promise<string[]> {
  await Deno.mkdir(outDir, { recursive: true });
  await bundle(join(srcDir, "vnc.js"), join(outDir, "vnc.js"));
  await bundle(join(srcDir, "vnc.css"), join(outDir, "vnc.css"));
  return DIST_FILES.map((f) => join(outDir, f));
}

if (import.meta.main) {
  const outDir = Deno.args[0] ?? VIEWER_DIST;
  try {
    for (const f of await buildViewer(outDir)) {
      console.log(`${f} (${Deno.statSync(f).size} bytes)`);
    }
  } catch (e) {
    console.error(`build:viewer failed: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
