/**
 * The layer rules of docs/ARCHITECTURE.md, checked on every import of src/,
 * scripts/ and main.ts: a folder of src/ imports only itself and folders
 * before it in {@linkcode LAYERS}; no cycle between folders; scripts/ never
 * imports test/; src/ never imports scripts/ or test/.
 * @module
 */
import assert from "node:assert/strict";
import { relativeImports, ROOT, walkFiles } from "../scripts/testing/repo_files.ts";

/**
 * The folders of src/, from the ground up: each may import only the folders
 * before it. This list is the one statement of the order; docs/ARCHITECTURE.md
 * describes the same folders in the same order (checked below).
 */
export const LAYERS: readonly string[] = [
  "base",
  "net",
  "http",
  "ws",
  "rfb",
  "config",
  "auth",
  "route",
  "proxy",
  "recording",
  "metrics",
  "service",
  "wrap",
  "web",
  "demo",
  "bridge",
  "app",
  "cli",
];

/** One relative import: the importing file and the imported one, both repo-relative. */
interface Edge {
  from: string;
  to: string;
}

/** `.ts`/`.js` files under `dir`, except the browser viewer's own scripts. */
function walk(dir: string): string[] {
  return walkFiles(dir, (p) => /\.(ts|js)$/.test(p) && !p.startsWith("src/web/viewer/"));
}

/** Every relative import of the given files. */
export function importsOf(
  files: string[],
  read = (f: string) => Deno.readTextFileSync(ROOT + f),
): Edge[] {
  return files.flatMap((from) => relativeImports(from, read(from)).map((to) => ({ from, to })));
}

/** The src/ folder of a path ("main" for main.ts, undefined outside src/). */
function folderOf(path: string): string | undefined {
  if (path === "main.ts" || path === "mod.ts") return "main";
  const m = path.match(/^src\/([^/]+)\//);
  return m ? m[1] : path.startsWith("src/") ? "(src root)" : undefined;
}

/** What is wrong with these imports, one line each (empty when the rules hold). */
export function layerViolations(edges: Edge[], layers: readonly string[] = LAYERS): string[] {
  const rank = new Map(layers.map((l, i) => [l, i]));
  rank.set("main", layers.length);
  const problems: string[] = [];
  const folderEdges = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    if (from.startsWith("scripts/") && to.startsWith("test/")) {
      problems.push(
        `${from} imports ${to}: scripts/ never imports test/ (move the helper to scripts/testing/)`,
      );
      continue;
    }
    if (from.startsWith("src/") && !to.startsWith("src/")) {
      problems.push(`${from} imports ${to}: src/ imports only src/`);
      continue;
    }
    const a = folderOf(from);
    const b = folderOf(to);
    if (a === undefined || b === undefined || a === b) continue;
    for (const f of [a, b]) {
      if (!rank.has(f)) {
        problems.push(`src/${f}/ is not in LAYERS (test/architecture_test.ts): add it`);
      }
    }
    const ra = rank.get(a);
    const rb = rank.get(b);
    if (ra === undefined || rb === undefined) continue;
    if (rb > ra) problems.push(`${from} imports ${to}: ${a} may not import ${b}, a later layer`);
    if (!folderEdges.has(a)) folderEdges.set(a, new Set());
    folderEdges.get(a)!.add(b);
  }
  // With a total order an upward import is the only way to a cycle; find them
  // anyway, so a cycle is named as such.
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (n: string) => {
    state.set(n, "open");
    stack.push(n);
    for (const m of folderEdges.get(n) ?? []) {
      if (state.get(m) === "open") {
        problems.push(
          `cycle between folders: ${[...stack.slice(stack.indexOf(m)), m].join(" → ")}`,
        );
      } else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, "done");
  };
  for (const n of folderEdges.keys()) if (!state.has(n)) visit(n);
  return [...new Set(problems)];
}

Deno.test("architecture: src/, scripts/, main.ts and mod.ts import only down the layer order", () => {
  const files = [...walk("src"), ...walk("scripts"), "main.ts", "mod.ts"];
  const problems = layerViolations(importsOf(files));
  assert.deepStrictEqual(problems, []);
});

Deno.test("architecture: every folder of src/ is a layer, and no file sits in src/ itself", () => {
  const folders = [...Deno.readDirSync(ROOT + "src")];
  const loose = folders.filter((e) => e.isFile).map((e) => e.name);
  assert.deepStrictEqual(loose, [], "files directly in src/: move each into its layer's folder");
  const dirs = folders.filter((e) => e.isDirectory).map((e) => e.name).sort();
  assert.deepStrictEqual(dirs, [...LAYERS].sort(), "src/ folders and LAYERS differ");
});

Deno.test("architecture: docs/ARCHITECTURE.md describes the layers in LAYERS' order", () => {
  const text = Deno.readTextFileSync(ROOT + "docs/ARCHITECTURE.md");
  const headed = [...text.matchAll(/^###\s+`src\/([a-z_]+)\/`/gm)].map((m) => m[1]);
  assert.deepStrictEqual(headed, [...LAYERS]);
  // Each module is named in its layer's section, so the page stays a map of the tree.
  const sections = new Map(
    text.split(/^###\s+`src\//m).slice(1).map((s) => [s.slice(0, s.indexOf("/")), s]),
  );
  const unnamed = walk("src").filter((f) => {
    const [, layer, ...rest] = f.split("/");
    return rest.length === 1 && !sections.get(layer)?.includes(`\`${rest[0]}\``);
  });
  assert.deepStrictEqual(unnamed, [], "name these modules in their layer's section");
});

/** Paths of the repository that `text` cites (`src/…`, `docs/…`, `scripts/…`, `test/…`, DESIGN.md, research/). */
export function citedPaths(text: string): string[] {
  const paths = text.match(
    /(?<![\w/.-])(?:src|docs|scripts|test)\/[\w./-]+\.(?:ts|md|js|c|sh|py|json|service|socket)\b/g,
  ) ?? [];
  const outside = text.match(/(?<![\w/.-])(?:DESIGN\.md|research\/[\w.-]+)/g) ?? [];
  return [...paths, ...outside];
}

Deno.test("architecture: comments and docs cite only files that are in the repository", () => {
  const files = [...walk("src"), ...walk("scripts"), "main.ts", "mod.ts", "README.md"];
  for (const e of Deno.readDirSync(ROOT + "docs")) {
    if (e.name.endsWith(".md")) files.push(`docs/${e.name}`);
  }
  const missing: string[] = [];
  for (const f of files) {
    for (const cited of citedPaths(Deno.readTextFileSync(ROOT + f))) {
      try {
        Deno.statSync(ROOT + cited);
      } catch {
        missing.push(`${f} cites ${cited}, which is not in the repository`);
      }
    }
  }
  assert.deepStrictEqual(missing, []);
  // The finder itself: a cited path, a file outside the repository, no false hit on a URL path.
  assert.deepStrictEqual(
    citedPaths("see src/ws/relay.ts and DESIGN.md §2, research/deno.md; not /x/src/a.ts"),
    ["src/ws/relay.ts", "DESIGN.md", "research/deno.md"],
  );
});

Deno.test("architecture: the checker catches an upward import, a cycle and scripts → test", () => {
  const edges = [
    { from: "src/net/a.ts", to: "src/proxy/b.ts" },
    { from: "src/proxy/b.ts", to: "src/net/a.ts" },
    { from: "scripts/x.ts", to: "test/_y.ts" },
    { from: "src/base/z.ts", to: "test/q.ts" },
    { from: "src/nowhere/z.ts", to: "src/base/q.ts" },
  ];
  const problems = layerViolations(edges);
  assert(problems.some((p) => p.includes("net may not import proxy")), problems.join("\n"));
  assert(problems.some((p) => p.startsWith("cycle between folders")), problems.join("\n"));
  assert(problems.some((p) => p.includes("scripts/ never imports test/")), problems.join("\n"));
  assert(problems.some((p) => p.includes("src/ imports only src/")), problems.join("\n"));
  assert(problems.some((p) => p.includes("src/nowhere/ is not in LAYERS")), problems.join("\n"));
  assert.deepStrictEqual(layerViolations([{ from: "src/proxy/b.ts", to: "src/net/a.ts" }]), []);
});

Deno.test("architecture: import parsing sees static, re-export, side-effect and dynamic imports", () => {
  const text = [
    `import { a } from "../net/a.ts";`,
    `import type { B } from "../http/b.ts";`,
    `export { c } from "./c.ts";`,
    `import "../base/d.ts";`,
    `const m = await import("../ws/e.ts");`,
    `import x from "npm-package";`,
  ].join("\n");
  const edges = importsOf(["src/proxy/f.ts"], () => text);
  assert.deepStrictEqual(edges.map((e) => e.to), [
    "src/net/a.ts",
    "src/http/b.ts",
    "src/proxy/c.ts",
    "src/base/d.ts",
    "src/ws/e.ts",
  ]);
});
