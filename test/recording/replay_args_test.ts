import assert from "node:assert/strict";
import { parseReplayArgs, REPLAY_DEFAULTS, REPLAY_USAGE } from "../../src/recording/replay_args.ts";

Deno.test("parseReplayArgs: defaults, given values, help", () => {
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

Deno.test("parseReplayArgs: usage errors say what is wrong", () => {
  const usage = (argv: string[]) => {
    const r = parseReplayArgs(argv);
    assert.equal(r.kind, "usage", JSON.stringify(argv));
    return (r as { message: string }).message;
  };
  assert.match(usage([]), /give exactly one recording file/);
  assert.ok(usage(["a", "b"]).endsWith(REPLAY_USAGE));
  assert.match(usage(["--bogus", "a"]), /^vncws replay: .*--bogus/);
  assert.match(usage(["a", "--port", "65536"]), /--port 65536 is not a port number/);
  assert.match(usage(["a", "--port", "x"]), /--port x is not a port number/);
  assert.match(usage(["a", "--speed", "fast"]), /--speed fast must be a number ≥ 0/);
  assert.match(usage(["a", "--speed=-1"]), /--speed -1 must be a number/);
});
