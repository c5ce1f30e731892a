/**
 * `deno task test:unit` preloads scripts/testing/no_spawn.ts: a unit test that
 * starts a process fails, naming the program and what to do.
 * @module
 */
import assert from "node:assert/strict";
import { tempDir } from "../../scripts/testing/util.ts";

const NO_SPAWN = new URL("../../scripts/testing/no_spawn.ts", import.meta.url).pathname;

async function runTest(code: string, preload: boolean) {
  using dir = tempDir();
  await Deno.writeTextFile(`${dir.path}/t_test.ts`, code);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", ...(preload ? ["--preload", NO_SPAWN] : []), `${dir.path}/t_test.ts`],
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  return {
    ok: out.success,
    text: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
  };
}

Deno.test("no_spawn: a unit test that starts a process fails with the program and the fix", async () => {
  const spawn = `Deno.test("t", () => { new Deno.Command("true").outputSync(); });\n`;
  const unit = await runTest(spawn, true);
  assert.ok(!unit.ok, unit.text);
  assert.match(unit.text, /a unit test started a process \(true\)/);
  assert.match(unit.text, /ALSO_SPAWNING/);
  // the same test passes without the preload, and a test that starts nothing passes with it
  assert.ok((await runTest(spawn, false)).ok);
  const pure = await runTest(
    `Deno.test("t", () => { Deno.readLinkSync("/proc/self/fd/0"); });\n`,
    true,
  );
  assert.ok(pure.ok, pure.text);
});
