import assert from "node:assert/strict";
import {
  configFileArgs,
  ConfigFileError,
  type ConfigFileOptions,
} from "../../src/cli/config_file.ts";
import { parseCommandLine } from "../../src/cli/cli.ts";

const OPTIONS: ConfigFileOptions = {
  knownOptions: {
    help: "boolean",
    version: "boolean",
    verbose: "boolean",
    "token-plugin": "string",
    "token-source": "string",
    "allow-origin": "string",
    heartbeat: "string",
    "log-format": "string",
    "run-once": "boolean",
    "ssl-only": "boolean",
    "drain-timeout": "string",
    web: "string",
  },
  multiple: ["verbose", "allow-origin"],
};

async function withFile<T>(
  name: string,
  text: string,
  fn: (path: string) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/${name}`, text);
    return await fn(`${dir}/${name}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("config file: TOML keys become argv entries", async () => {
  const args = await withFile(
    "vncws.toml",
    `# comment
token-plugin = "TokenFile"
token_source = "/etc/vncws/tokens"   # underscore spelling
verbose = 2
allow-origin = ["https://a", "https://b"]
heartbeat = 30
run-once = true
ssl-only = false
web = "--odd-but-valid"
`,
    (p) => configFileArgs(p, OPTIONS),
  );
  assert.deepEqual(args, [
    "--token-plugin=TokenFile",
    "--token-source=/etc/vncws/tokens",
    "--verbose",
    "--verbose",
    "--allow-origin=https://a",
    "--allow-origin=https://b",
    "--heartbeat=30",
    "--run-once",
    "--web=--odd-but-valid",
  ]);
});

Deno.test("config file: JSON works the same", async () => {
  const args = await withFile(
    "vncws.json",
    JSON.stringify({ verbose: true, "log-format": "json", "allow-origin": ["x"] }),
    (p) => configFileArgs(p, OPTIONS),
  );
  assert.deepEqual(args, ["--verbose", "--log-format=json", "--allow-origin=x"]);
});

Deno.test("config file: the real CLI parses the result, and the command line wins", async () => {
  const args = await withFile(
    "c.toml",
    `heartbeat = 30\ndrain-timeout = 7\nlog-format = "json"\nverbose = 1\n`,
    (p) => configFileArgs(p, OPTIONS),
  );
  const cmd = parseCommandLine([...args, "--heartbeat", "5", "6080", "127.0.0.1:5900"]);
  assert.equal(cmd.kind, "run");
  if (cmd.kind !== "run") return;
  assert.equal(cmd.config.heartbeat, 5); // command line
  assert.equal(cmd.config.drainTimeout, 7); // file
  assert.equal(cmd.config.logFormat, "json");
  assert.equal(cmd.config.verbose, 1);
});

Deno.test("config file: clear errors", async () => {
  const err = (text: string, name = "bad.toml") =>
    withFile(name, text, (p) => configFileArgs(p, OPTIONS)).then(
      () => assert.fail("no error"),
      (e) => {
        assert.ok(e instanceof ConfigFileError, String(e));
        return e.message;
      },
    );
  const m = await err(`heartbeet = 3\n`);
  assert.match(m, /bad\.toml: unknown key "heartbeet"/);
  assert.match(m, /did you mean "heartbeat"\?/);
  assert.match(m, /Valid keys are the long options: allow-origin, drain-timeout, heartbeat,/);
  assert.ok(!m.includes("help,"), "help is not a valid key");
  assert.match(await err(`help = true\n`), /"help" cannot be set in a config file/);
  assert.match(await err(`config = "other.toml"\n`), /"config" cannot be set/);
  assert.match(await err(`run-once = "yes"\n`), /"run-once" takes true or false, not string "yes"/);
  assert.match(await err(`verbose = -1\n`), /"verbose" takes true, false or a count/);
  assert.match(await err(`heartbeat = [1, 2]\n`), /"heartbeat" takes one value/);
  assert.match(await err(`allow-origin = [true]\n`), /takes a list of strings or numbers/);
  assert.match(await err(`web = 1979-05-27\n`), /"web" takes a string or a number, not a date/);
  assert.match(await err(`[proxy]\nweb = "x"\n`), /\[proxy\] is a table: .*at the top/);
  assert.match(await err(`web = \n`), /bad\.toml: not valid TOML: .*invalid value/s);
  assert.match(await err(`{"web": }`, "bad.json"), /bad\.json: not valid JSON/);
  assert.match(await err(`[1, 2]`, "list.json"), /expected key = value pairs/);
  await assert.rejects(
    configFileArgs("/nonexistent/vncws.toml", OPTIONS),
    /--config \/nonexistent\/vncws\.toml: cannot read it: no such file/,
  );
});
