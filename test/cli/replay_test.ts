import assert from "node:assert/strict";
import { REPLAY_DEFAULTS } from "../../src/config/replay.ts";
import { parseReplayArgs, REPLAY_COMMAND, REPLAY_HELP } from "../../src/cli/replay.ts";
import { defaultText } from "../../src/cli/table.ts";
import { UsageError } from "../../src/cli/values.ts";

Deno.test("vncws replay: defaults, given values, help", () => {
  assert.deepEqual(parseReplayArgs(["rec.1"]), {
    kind: "serve",
    options: { file: "rec.1", ...REPLAY_DEFAULTS },
  });
  assert.deepEqual(REPLAY_DEFAULTS, { port: 5900, host: "127.0.0.1", speed: 1 });
  assert.deepEqual(
    parseReplayArgs(["--port", "0", "r.vncrec", "--host", "::1", "--speed", "2.5"]),
    { kind: "serve", options: { file: "r.vncrec", port: 0, host: "::1", speed: 2.5 } },
  );
  assert.deepEqual(parseReplayArgs(["--help"]), { kind: "help" });
  assert.deepEqual(parseReplayArgs(["-h", "x"]), { kind: "help" });
});

Deno.test("vncws replay: usage errors say what is wrong", () => {
  const usage = (argv: string[]) => {
    try {
      parseReplayArgs(argv);
    } catch (e) {
      assert.ok(e instanceof UsageError, String(e));
      return e.message;
    }
    assert.fail(`no usage error for ${JSON.stringify(argv)}`);
  };
  assert.match(usage([]), /give exactly one recording file/);
  assert.match(usage(["a", "b"]), /give exactly one recording file \(got 2: a b\)/);
  assert.match(usage(["--bogus", "a"]), /--bogus/);
  assert.match(usage(["a", "--port", "65536"]), /--port "?65536"? is not a port number/);
  assert.match(usage(["a", "--port", "x"]), /--port "?x"? is not a port number/);
  assert.match(usage(["a", "--speed", "fast"]), /--speed .*fast/);
  assert.match(usage(["a", "--speed=-1"]), /--speed .*-1/);
});

Deno.test("vncws replay --help lists every option of the table once, with its default", () => {
  for (const o of REPLAY_COMMAND.options) {
    const lines = REPLAY_HELP.split("\n").filter((l) =>
      new RegExp(`^ +(-\\w, )?--${o.name}\\b`).test(l)
    );
    assert.equal(lines.length, 1, `--${o.name} listed ${lines.length} times`);
    const d = defaultText(o);
    if (d !== undefined) assert.ok(REPLAY_HELP.includes(`[${d}]`), `--${o.name}'s default [${d}]`);
  }
  assert.match(REPLAY_HELP, /vncws replay \[options\] RECORDING/);
});
