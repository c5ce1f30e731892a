/**
 * The unit/e2e split of `deno task test:unit` and `test:e2e`
 * (scripts/testing/test_sets.ts): decided from the code, so a new test file
 * lands in the right set by itself.
 * @module
 */
import assert from "node:assert/strict";
import {
  e2eReason,
  helperSources,
  spawningFunctions,
  testFiles,
  testSets,
} from "../../scripts/testing/test_sets.ts";

// Spelled in pieces so that this file's own text does not make it an e2e test.
const COMMAND = ["Deno", "Command"].join(".");
const SKIP = ["skip", "Unless"].join("");

/** A small made-up repository: path → text. */
const FILES: Record<string, string> = {
  "src/a.ts": [
    "export function startThing() {",
    `  return new ${COMMAND}("x");`,
    "}",
    "export function viaThing() {",
    "  return startThing();",
    "}",
    "export function pure() {",
    "  return 1;",
    "}",
    "",
  ].join("\n"),
  "test/x/_helpers.ts": "export async function boot() {\n  await viaThing();\n}\n",
  "test/x/_local.ts": `export const run = () => new ${COMMAND}("y");\n`,
  "test/x/plain_test.ts": 'import { pure } from "../../src/a.ts";\nDeno.test("p", () => pure());\n',
  "test/x/boot_test.ts": 'import { boot } from "./_helpers.ts";\nDeno.test("b", () => boot());\n',
  "test/x/local_test.ts": 'import { run } from "./_local.ts";\nDeno.test("l", () => run());\n',
  "test/x/skip_test.ts":
    `Deno.test({ name: "s", ignore: ${SKIP}("redis-server", "apt"), fn() {} });\n`,
  "test/x/method_test.ts": 'Deno.test("m", () => { Deno.serve(() => new Response("")); });\n',
};
const read = (path: string) => {
  if (!(path in FILES)) throw new Error(`no ${path}`);
  return FILES[path];
};

Deno.test("test sets: functions that start a process, followed through calls", () => {
  const spawning = spawningFunctions(["src/a.ts", "test/x/_helpers.ts"], read);
  assert.deepEqual([...spawning].sort(), ["boot", "startThing", "viaThing"]);
});

Deno.test("test sets: e2e when a test starts a process or needs a program, else unit", () => {
  const spawning = spawningFunctions(["src/a.ts", "test/x/_helpers.ts", "test/x/_local.ts"], read);
  const reason = (path: string) => e2eReason(path, spawning, read);
  assert.equal(reason("test/x/plain_test.ts"), undefined);
  assert.equal(reason("test/x/boot_test.ts"), "test/x/boot_test.ts calls boot");
  // through a test helper the file imports
  assert.equal(reason("test/x/local_test.ts"), `test/x/_local.ts uses ${COMMAND}`);
  assert.equal(reason("test/x/skip_test.ts"), `test/x/skip_test.ts uses ${SKIP}`);
  // Deno.serve is not a top-level function called serve
  assert.equal(e2eReason("test/x/method_test.ts", new Set(["serve"]), read), undefined);
});

Deno.test("test sets: this repository's tests, each in one set", () => {
  const files = testFiles();
  const sets = testSets();
  assert.deepEqual([...sets.keys()], files);
  assert.ok(!files.some((f) => /\/_/.test(f)), "helpers are not test files");
  assert.ok(files.includes("test/scripts/test_sets_test.ts"));
  const spawning = spawningFunctions();
  for (const name of ["startProcess", "startVncws", "startXtigervnc", "makeCerts"]) {
    assert.ok(spawning.has(name), name);
  }
  for (const name of ["freePort", "listenTcp", "wsConnect"]) assert.ok(!spawning.has(name), name);
  assert.ok(helperSources().includes("scripts/testing/util.ts"));
  // the programs and the vncws processes are e2e; codecs and pure logic are unit
  assert.equal(sets.get("test/proxy/proxy_test.ts")?.set, "e2e");
  assert.equal(sets.get("test/browser/viewer_demo_test.ts")?.set, "e2e");
  assert.equal(sets.get("test/ws/frame_test.ts")?.set, "unit");
  assert.equal(sets.get("test/service/fd_limit_test.ts")?.set, "unit");
  assert.equal(sets.get("test/scripts/test_sets_test.ts")?.set, "unit");
});
