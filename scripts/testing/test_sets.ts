/**
 * Which test files are unit tests and which are end-to-end, decided from the
 * code so that a new test lands in the right set without a list to update:
 *
 * - **e2e** (`deno task test:e2e`): the file, or a helper it imports from
 *   test/, starts a process — directly (`Deno.Command`, `node:child_process`),
 *   through a function that does (found in src/, scripts/testing/ and test/
 *   helpers, following calls), or a browser — or needs an installed program
 *   (`skipUnless…`, `hasCommand`).
 * - **unit** (`deno task test:unit`): everything else. They run with
 *   `Deno.Command` disabled (scripts/testing/no_spawn.ts), so a unit test that
 *   starts a process after all fails at once instead of quietly making
 *   `test:unit` slow or machine-bound.
 *
 * `deno task test` runs both sets (all of test/).
 *
 * Run as a script: `deno run -A scripts/testing/test_sets.ts unit|e2e|list
 * [deno test flags]`.
 * @module
 */

import { relativeImports, ROOT, walkFiles } from "./repo_files.ts";

/** Starting a process directly. */
const SPAWNS = /\bDeno\.Command\b|\bDeno\.run\(|["']node:child_process["']|\bplaywright-core\b/;
/**
 * Functions that start a process where the scan below cannot see it (it reads
 * top-level functions only, not methods): add one here when test:unit says a
 * unit test started a process.
 */
export const ALSO_SPAWNING: readonly string[] = [];

/** Asking for an installed program (or python module). */
const NEEDS_PROGRAM = /\b(skipUnless\w*|hasCommand|hasPythonModule)\(/;
/** A top-level function and its body (deno fmt ends it with `}` at column 0). */
const TOP_FUNCTION = /^(?:export )?(?:async )?function\*? (\w+)[\s\S]*?^\}/gm;

/** The set a test file belongs to. */
export type TestSet = "unit" | "e2e";

/** Reads a file's text by its repository path (tests pass their own files). */
export type ReadSource = (path: string) => string;

const readRepo: ReadSource = (path) => Deno.readTextFileSync(`${ROOT}${path}`);

/** Test files as `deno test` finds them (`*_test.ts`, `*.test.ts`, `test.ts`), relative paths. */
export function testFiles(dir = "test"): string[] {
  return walkFiles(dir, (p) => /(^|\/|_|\.)test\.[cm]?[jt]sx?$/.test(p));
}

/** Where functions that may start a process live: src/, scripts/testing/, test/ helpers. */
export function helperSources(): string[] {
  return [
    ...walkFiles("src", (p) => p.endsWith(".ts")),
    ...walkFiles("scripts/testing", (p) => p.endsWith(".ts")),
    ...walkFiles("test", (p) => /\/_[^/]*\.ts$/.test(p)),
  ];
}

/**
 * Names of the top-level functions in `sources` that start a process, directly
 * or by calling one another. Matched by name: a name shared with an innocent
 * function errs toward e2e.
 */
export function spawningFunctions(sources = helperSources(), read = readRepo): Set<string> {
  const bodies: Array<[string, string]> = [];
  for (const path of sources) {
    for (const m of read(path).matchAll(TOP_FUNCTION)) bodies.push([m[1], m[0]]);
  }
  const spawning = new Set<string>(ALSO_SPAWNING);
  for (let grew = true; grew;) {
    grew = false;
    for (const [name, body] of bodies) {
      if (!spawning.has(name) && (SPAWNS.test(body) || firstCall(body, spawning))) {
        spawning.add(name);
        grew = true;
      }
    }
  }
  return spawning;
}

/** The first function of `names` that `text` calls, if any. */
function firstCall(text: string, names: Set<string>): string | undefined {
  // Plain calls only: `Deno.serve(` is a method, not a top-level function `serve`.
  for (const m of text.matchAll(/(?<![.\w])(\w+)\(/g)) if (names.has(m[1])) return m[1];
  return undefined;
}

/** Relative imports in `text` (of the file at `path`) that stay inside test/: its helpers. */
function testHelperImports(path: string, text: string): string[] {
  return relativeImports(path, text).filter((p) => p.startsWith("test/"));
}

/**
 * Why a test file is e2e (e.g. `test/bridge/_helpers.ts calls startProcess`), or
 * undefined when it is a unit test.
 */
export function e2eReason(
  path: string,
  spawning = spawningFunctions(),
  read = readRepo,
): string | undefined {
  const seen = new Set<string>();
  const visit = (p: string): string | undefined => {
    if (seen.has(p)) return undefined;
    seen.add(p);
    const text = read(p);
    const found = SPAWNS.exec(text)?.[0] ?? NEEDS_PROGRAM.exec(text)?.[1];
    if (found) return `${p} uses ${found}`;
    const call = firstCall(text, spawning);
    if (call) return `${p} calls ${call}`;
    for (const helper of testHelperImports(p, text)) {
      const why = visit(helper);
      if (why) return why;
    }
    return undefined;
  };
  return visit(path);
}

/** Every test file with its set and, for e2e, the reason. */
export function testSets(): Map<string, { set: TestSet; reason?: string }> {
  const spawning = spawningFunctions();
  return new Map(
    testFiles().map((f) => {
      const reason = e2eReason(f, spawning);
      return [f, reason ? { set: "e2e", reason } : { set: "unit" }];
    }),
  );
}

if (import.meta.main) {
  const [which, ...flags] = Deno.args;
  const sets = testSets();
  if (which === "list") {
    for (const [file, { set, reason }] of sets) console.log(`${set}\t${file}\t${reason ?? ""}`);
    Deno.exit(0);
  }
  if (which !== "unit" && which !== "e2e") {
    console.error(
      "usage: deno run -A scripts/testing/test_sets.ts unit|e2e|list [deno test flags]",
    );
    Deno.exit(2);
  }
  const files = [...sets].filter(([, { set }]) => set === which).map(([f]) => f);
  // Unit tests may not start processes: a misclassified one fails instead of passing slowly.
  const preload = which === "unit" ? ["--preload", `${ROOT}scripts/testing/no_spawn.ts`] : [];
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", ...preload, "--no-check=remote", ...flags, ...files],
    cwd: ROOT,
  }).spawn().status;
  Deno.exit(code);
}
