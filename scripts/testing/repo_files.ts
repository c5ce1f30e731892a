/**
 * The repository's files and their relative imports, read as text: shared by
 * the architecture test (the layer rules) and the test-set splitter
 * (scripts/testing/test_sets.ts), so both see the same imports.
 * @module
 */

/** The repository root, with a trailing slash. */
export const ROOT: string = new URL("../../", import.meta.url).pathname;

/** Files under `dir` (a repository path) that `keep` accepts, as sorted repository paths. */
export function walkFiles(dir: string, keep: (path: string) => boolean): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(`${ROOT}${dir}`)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...walkFiles(path, keep));
    else if (keep(path)) out.push(path);
  }
  return out.sort();
}

const IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^"';]*?from\s*["']([^"']+)["']|(?:^|[\s;])import\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

/**
 * The relative imports of `text`, the file at repository path `path`, as
 * repository paths: static, re-exports, side-effect and dynamic imports.
 */
export function relativeImports(path: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (!spec.startsWith(".")) continue;
    const parts = path.split("/").slice(0, -1);
    for (const p of spec.split("/")) {
      if (p === "..") parts.pop();
      else if (p !== ".") parts.push(p);
    }
    out.push(parts.join("/"));
  }
  return out;
}
