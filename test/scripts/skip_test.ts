/**
 * The skip helpers of scripts/testing/util.ts: outside CI a missing program or
 * python module skips its test and prints the install command; with CI=true
 * nothing is skipped, so the test runs and fails loudly.
 * @module
 */
import assert from "node:assert/strict";
import { PYTHON, skipUnless, tempDir } from "../../scripts/testing/util.ts";

const UTIL = new URL("../../scripts/testing/util.ts", import.meta.url).href;

/** Runs the skip helpers in a fresh deno (IN_CI is read at start); returns their answers. */
async function ask(env: Record<string, string>) {
  const code = `
    import { skipUnless, skipUnlessPython } from ${JSON.stringify(UTIL)};
    console.log(JSON.stringify({
      program: skipUnless("vncws-no-such-program", "apt-get install no-such"),
      present: skipUnless("sh", "apt-get install dash"),
      module: skipUnlessPython("vncws_no_such_module", "apt-get install python3-no-such"),
      stdlib: skipUnlessPython("json", "apt-get install python3"),
      shadowed: skipUnlessPython("websocket", "apt-get install python3-websocket"),
    }));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, stderr);
  return { answers: JSON.parse(stdout), stderr };
}

Deno.test({
  name: "skip helpers: skip with the install command outside CI, never in CI",
  ignore: skipUnless(PYTHON, "apt-get install python3"),
  async fn() {
    // A package on PYTHONPATH that fails to import stands for one that is not installed.
    using dir = tempDir();
    Deno.mkdirSync(`${dir.path}/websocket`);
    Deno.writeTextFileSync(
      `${dir.path}/websocket/__init__.py`,
      'raise ModuleNotFoundError("not installed (test)")\n',
    );
    const local = await ask({ CI: "", PYTHONPATH: dir.path });
    assert.deepEqual(local.answers, {
      program: true,
      present: false,
      module: true,
      stdlib: false,
      shadowed: true,
    });
    for (
      const line of [
        "skipped: vncws-no-such-program not installed (install: apt-get install no-such)",
        "skipped: python module vncws_no_such_module not installed " +
        "(install: apt-get install python3-no-such)",
        "skipped: python module websocket not installed (install: apt-get install python3-websocket)",
      ]
    ) assert.ok(local.stderr.includes(line), `no "${line}" in:\n${local.stderr}`);
    const ci = await ask({ CI: "true", PYTHONPATH: dir.path });
    // in CI nothing is skipped
    assert.deepEqual(
      ci.answers,
      Object.fromEntries(Object.keys(local.answers).map((k) => [k, false])),
    );
    assert.doesNotMatch(ci.stderr, /skipped/);
  },
});
