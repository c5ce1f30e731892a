/**
 * The command line through real processes: `deno fmt` agrees with the README
 * tables' padding, and usage errors exit 2 with their message.
 */
import assert from "node:assert/strict";
import { markdownTable } from "../../src/cli/table.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const URL_ = "wss://host/websockify";

async function vncws(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("markdownTable pads columns the way deno fmt does", async () => {
  const table = markdownTable(["a", "bb"], [["`x|y`", "→ ü …"], ["", "long cell"]]);
  assert.ok(table.includes("`x\\|y`"), table);
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/t.md`;
    await Deno.writeTextFile(path, `# t\n\n${table}\n`);
    const out = await new Deno.Command(Deno.execPath(), { args: ["fmt", "--check", path] })
      .output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr) + "\n" + table);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vncws bridge exits 2 with websocat's option named", async () => {
  const out = await vncws("bridge", "-t", "5901", URL_);
  assert.equal(out.code, 2);
  assert.match(out.stderr, /websocat's -t \(--text\) is not supported by vncws bridge/);
});

Deno.test("vncws --help, bridge --help print the tables' help; a usage error exits 2", async () => {
  const help = await vncws("--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--drain-timeout SEC +on SIGTERM/);
  const bridge = await vncws("bridge", "--help");
  assert.equal(bridge.code, 0);
  assert.match(bridge.stdout, /-E, --exit-on-eof/);
  const bad = await vncws("--max-headers", "x", "6080", "h:1");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--max-headers takes a whole number, got "x"\nTry 'vncws --help'/);
});
