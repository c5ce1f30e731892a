/**
 * Finds the bundled viewer's files: our own page as built by `deno task
 * build:viewer` (src/web/viewer/dist/: vnc.html, vnc.css and vnc.js, which
 * holds the page's modules and noVNC's in one minified file) and the noVNC
 * library (npm `@novnc/novnc`: its core/ and vendor/ directories, still served
 * for pages that load noVNC's modules themselves).
 *
 * Two ways to run, one lookup:
 * - `deno run`: the package sits in node_modules (nodeModulesDir "auto").
 * - `deno compile`: the same relative paths exist in the binary's embedded
 *   file system when compiled with
 *   `--include src/web/viewer/vnc.html`, `--include src/web/viewer/dist`
 *   `--include node_modules/.deno/@novnc+novnc@1.7.0/node_modules/@novnc/novnc/core`
 *   `--include node_modules/.deno/@novnc+novnc@1.7.0/node_modules/@novnc/novnc/vendor`
 *   (the real directory, not the node_modules/@novnc/novnc symlink), and are
 *   read through `import.meta.dirname`-relative paths.
 * @module
 */
import { join } from "node:path";
import { isFile } from "../base/fs.ts";

/** Where the bundled files live on disk (or in the compiled binary). */
export interface BundledAssets {
  /** Directory holding the page's sources, of which vnc.html is served as it is. */
  viewerDir: string;
  /** Directory holding the built vnc.js (one bundle) and vnc.css. */
  distDir: string;
  /** The noVNC package directory, holding core/ and vendor/. */
  novncDir: string;
}

const PACKAGE = "@novnc/novnc";
/** Prefix of the package's directory under node_modules/.deno/. */
const STORE_PREFIX = "@novnc+novnc@";

function candidates(here: string): string[] {
  const out: string[] = [];
  try {
    // Under `deno run` this resolves to the package's real directory.
    const entry = import.meta.resolve(PACKAGE);
    if (entry.startsWith("file:")) out.push(join(new URL(entry).pathname, "..", ".."));
  } catch { /* not resolvable here (e.g. compiled without the package) */ }
  const nodeModules = join(here, "..", "..", "node_modules");
  out.push(join(nodeModules, PACKAGE));
  try {
    const versions = [...Deno.readDirSync(join(nodeModules, ".deno"))]
      .map((e) => e.name)
      .filter((n) => n.startsWith(STORE_PREFIX))
      .sort()
      .reverse();
    for (const v of versions) out.push(join(nodeModules, ".deno", v, "node_modules", PACKAGE));
  } catch { /* no store directory */ }
  return out;
}

/**
 * Locates the bundled assets. Throws with what is missing and how to get it
 * (run `deno install` in the repository) when the noVNC package is absent.
 */
export function locateAssets(): BundledAssets {
  const here = import.meta.dirname;
  if (here === undefined) {
    throw new Error("bundled viewer needs a local module path (import.meta.dirname is undefined)");
  }
  const viewerDir = join(here, "viewer");
  const distDir = join(viewerDir, "dist");
  for (const path of [join(viewerDir, "vnc.html"), join(distDir, "vnc.js")]) {
    if (!isFile(path)) {
      throw new Error(
        `bundled viewer missing: ${path} not found; ` +
          "run `deno task build:viewer` in the vncws directory",
      );
    }
  }
  const tried = candidates(here);
  const novncDir = tried.find((dir) => isFile(join(dir, "core", "rfb.js")));
  if (novncDir === undefined) {
    throw new Error(
      `noVNC library (npm ${PACKAGE}) not found in ${tried.join(", ")}; ` +
        "run `deno install` in the vncws directory, or serve a noVNC copy with --web DIR",
    );
  }
  return { viewerDir, distDir, novncDir };
}

async function walk(dir: string, urlPrefix: string, out: Map<string, string>): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    if (e.name.startsWith(".")) continue;
    const path = join(dir, e.name);
    if (e.isDirectory) await walk(path, `${urlPrefix}${e.name}/`, out);
    else if (e.isFile) out.set(`${urlPrefix}${e.name}`, path);
  }
}

/**
 * Every bundled file by URL path: `/vnc.html` from the viewer's sources,
 * `/vnc.js` and `/vnc.css` from its build; `/core/...` and `/vendor/...` from
 * the noVNC package.
 * Only these exact paths are ever served in bundled mode.
 */
export async function bundledFiles(assets: BundledAssets): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  out.set("/vnc.html", join(assets.viewerDir, "vnc.html"));
  await walk(assets.distDir, "/", out);
  await walk(join(assets.novncDir, "core"), "/core/", out);
  await walk(join(assets.novncDir, "vendor"), "/vendor/", out);
  return out;
}
