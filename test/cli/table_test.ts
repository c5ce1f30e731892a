/**
 * The table machinery on its own, with a small command declared the way a
 * new subcommand (e.g. `vncws replay`) would declare its options.
 */
import assert from "node:assert/strict";
import {
  checkNeeds,
  type CommandSpec,
  flag,
  parseOptions,
  renderHelp,
  renderMarkdown,
  valued,
} from "../../src/cli/table.ts";
import { number, port, text, UsageError } from "../../src/cli/values.ts";

const DEMO: CommandSpec = {
  name: "vncws demo-cmd",
  usage: ["[--port P] [--speed N] RECORDING"],
  arguments: [["RECORDING", "the file to play"]],
  groups: [{ id: "main", title: "Options:" }, { id: "more", title: "More:" }],
  options: [
    valued("port", port(true), "main", "vncws", "TCP port; 0 picks a free one", { default: 5900 }),
    valued("host", text("ADDR"), "main", "vncws", "address to listen on", {
      default: "127.0.0.1",
    }),
    valued("speed", number, "main", "vncws", "playback speed; 0 = no pauses", { default: 1 }),
    valued("tag", text("T"), "more", "vncws", "a tag (repeatable)", { repeatable: true }),
    flag("loud", "more", "vncws", "more output", { short: "l", repeatable: true }),
    flag("fast", "more", "vncws", "needs --tag", { needs: "tag" }),
    flag("help", "more", "vncws", "this help", { short: "h" }),
  ],
  explainUnknown: (f) => (f === "--loop" ? "--loop is not supported; run it again" : undefined),
};

const usage = (argv: string[]) => {
  try {
    const o = parseOptions(DEMO, argv);
    checkNeeds(DEMO, o);
    o.get("port");
    o.get("speed");
  } catch (e) {
    if (e instanceof UsageError) return e.message;
    throw e;
  }
  throw new Error(`accepted: ${argv.join(" ")}`);
};

Deno.test("table: defaults, typed values, lists, counts and positionals anywhere", () => {
  const d = parseOptions(DEMO, ["rec.1"]);
  assert.equal(d.get("port"), 5900);
  assert.equal(d.get("host"), "127.0.0.1");
  assert.equal(d.get("speed"), 1);
  assert.deepEqual(d.all("tag"), []);
  assert.equal(d.given("port"), false);
  const o = parseOptions(DEMO, [
    "--port",
    "0",
    "rec.1",
    "-ll",
    "--tag=a",
    "--tag",
    "b",
    "--speed=2.5",
  ]);
  assert.equal(o.get("port"), 0);
  assert.equal(o.get("speed"), 2.5);
  assert.equal(o.count("loud"), 2);
  assert.deepEqual(o.all("tag"), ["a", "b"]);
  assert.deepEqual(o.positionals, ["rec.1"]);
  assert.throws(() => o.get("nope"), /has no option --nope/);
});

Deno.test("table: usage errors name the option and say what it takes", () => {
  assert.match(usage(["--port", "99999", "r"]), /--port "99999" is not a port number \(0 to 65535/);
  assert.match(usage(["--speed=-1", "r"]), /--speed takes a number/);
  assert.match(
    usage(["--speed", "-1", "r"]),
    /--speed's value starts with "-": write it as --speed=/,
  );
  assert.match(usage(["--sped", "2", "r"]), /unknown option --sped \(did you mean --speed\?\)/);
  assert.match(usage(["--loop", "r"]), /^--loop is not supported; run it again$/);
  assert.match(usage(["--port"]), /--port needs a value/);
  assert.match(usage(["--fast", "r"]), /--fast needs --tag/);
  assert.equal(usage(["--fast", "--tag", "x", "--port", "x"]).includes("--port"), true);
});

Deno.test("table: help and README list each option once, defaults in brackets", () => {
  const help = renderHelp(DEMO);
  assert.match(help, /^Usage:\n {2}vncws demo-cmd \[--port P\] \[--speed N\] RECORDING\n/);
  assert.match(help, /\n {2}--port PORT {16}TCP port; 0 picks a free one \[5900\]\n/);
  assert.match(help, /\n {2}-l, --loud {17}more output\n/);
  assert.match(help, /\n {2}RECORDING {18}the file to play\n/);
  assert.equal(help.match(/--host ADDR/g)?.length, 1);
  const md = renderMarkdown(DEMO, "###");
  assert.match(md, /### Options:\n\n\| option +\| default +\| from \| meaning/);
  assert.match(md, /\| `--speed N` +\| 1 +\| +\| playback speed; 0 = no pauses \|/);
  assert.match(md, /\| `-l`, `--loud` +\| +\|/);
});
