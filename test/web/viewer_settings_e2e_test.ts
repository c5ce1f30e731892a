/**
 * `--viewer-defaults` and `--viewer-mandatory` against the real vncws
 * process: `/vnc_settings.json` with and without them, behind `--web-auth`
 * and the address lists like every web file, a bad file stops the start
 * with exit 2, and SIGHUP with `--config` re-reads them.
 */
import assert from "node:assert/strict";
import {
  freePort,
  type Proc,
  startProcess,
  startVncws,
  tempDir,
  until,
} from "../../scripts/testing/util.ts";
import { MAIN } from "../../scripts/testing/util.ts";

async function withVncws(args: string[], fn: (port: number, vncws: Proc) => Promise<void>) {
  const port = freePort();
  const vncws = await startVncws([...args, `127.0.0.1:${port}`, "127.0.0.1:1"]);
  try {
    await fn(port, vncws);
  } finally {
    await vncws.stop();
  }
}

function settings(port: number, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/vnc_settings.json`, { headers });
}

Deno.test("e2e: /vnc_settings.json carries the operator's files; both empty without them", async () => {
  using dir = tempDir();
  const defaults = `${dir.path}/defaults.json`;
  const mandatory = `${dir.path}/mandatory.json`;
  Deno.writeTextFileSync(defaults, '{"resize": "scale", "quality": 6, "reconnect": true}');
  Deno.writeTextFileSync(mandatory, '{"view_only": true, "path": "websockify"}');
  await withVncws(["--viewer-defaults", defaults, "--viewer-mandatory", mandatory], async (p) => {
    const res = await settings(p);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("cache-control"), "no-cache");
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    assert.deepEqual(await res.json(), {
      defaults: { resize: "scale", quality: 6, reconnect: true },
      mandatory: { view_only: true, path: "websockify" },
    });
  });
  await withVncws([], async (p) => {
    const res = await settings(p);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { defaults: {}, mandatory: {} });
  });
});

Deno.test("e2e: /vnc_settings.json is behind --web-auth and the address lists like other web files", async () => {
  using dir = tempDir();
  const defaults = `${dir.path}/defaults.json`;
  Deno.writeTextFileSync(defaults, '{"resize": "remote"}');
  const auth = ["--auth-plugin", "BasicHTTPAuth", "--auth-source", "ann:secret"];
  await withVncws(["--viewer-defaults", defaults, ...auth, "--web-auth"], async (p) => {
    const refused = await settings(p);
    assert.equal(refused.status, 401);
    assert.match(refused.headers.get("www-authenticate") ?? "", /^Basic/);
    await refused.body?.cancel();
    const ok = await settings(p, { Authorization: `Basic ${btoa("ann:secret")}` });
    assert.equal(ok.status, 200);
    assert.deepEqual((await ok.json()).defaults, { resize: "remote" });
  });
  // Without --web-auth the same auth plugin guards sessions only: the settings are public.
  await withVncws(["--viewer-defaults", defaults, ...auth], async (p) => {
    const res = await settings(p);
    assert.equal(res.status, 200);
    await res.body?.cancel();
  });
  await withVncws(["--viewer-defaults", defaults, "--allow-ip", "10.0.0.0/8"], async (p) => {
    const res = await settings(p);
    assert.equal(res.status, 403);
    await res.body?.cancel();
  });
});

/** Runs vncws expecting it to refuse its command line; resolves its exit code and output. */
async function refusedStart(args: string[]): Promise<{ code: number; output: string }> {
  const p = startProcess(Deno.execPath(), ["run", "-A", MAIN, ...args, "6080", "127.0.0.1:1"]);
  const status = await p.status;
  return { code: status.code, output: p.output() };
}

Deno.test("e2e: a missing, non-JSON or wrongly shaped settings file stops the start with exit 2", async () => {
  using dir = tempDir();
  const write = (name: string, text: string) => {
    Deno.writeTextFileSync(`${dir.path}/${name}`, text);
    return `${dir.path}/${name}`;
  };
  const cases: [string[], RegExp][] = [
    [["--viewer-defaults", `${dir.path}/missing.json`], /--viewer-defaults .*: no such file/],
    [["--viewer-mandatory", write("bad.json", "{resize")], /is not valid JSON/],
    [["--viewer-defaults", write("list.json", '["scale"]')], /must hold a JSON object/],
    [["--viewer-mandatory", write("deep.json", '{"a": {"b": 1}}')], /"a" must be a string/],
    [
      ["--viewer-mandatory", write("high.json", '{"quality": "high"}')],
      /"quality" is "high", which the viewer cannot read; give an integer from 0 to 9/,
    ],
    [
      ["--viewer-defaults", write("fit.json", '{"resize": "fit"}')],
      /"resize" is "fit".*one of "off", "scale", "remote"/,
    ],
    [
      ["--viewer-defaults", write("ok.json", "{}"), "--web", "none"],
      /needs the web server \(drop --web none\)/,
    ],
  ];
  for (const [args, message] of cases) {
    const { code, output } = await refusedStart(args);
    assert.equal(code, 2, output);
    assert.match(output, message);
  }
});

Deno.test("e2e: SIGHUP with --config re-reads the viewer settings; a broken file keeps the old ones", async () => {
  using dir = tempDir();
  const defaults = `${dir.path}/defaults.json`;
  const config = `${dir.path}/vncws.toml`;
  Deno.writeTextFileSync(defaults, '{"quality": 6}');
  Deno.writeTextFileSync(config, `viewer-defaults = "${defaults}"\n`);
  await withVncws(["--config", config], async (p, vncws) => {
    const read = async () => (await (await settings(p)).json()).defaults;
    assert.deepEqual(await read(), { quality: 6 });
    Deno.writeTextFileSync(defaults, '{"quality": 2}');
    Deno.kill(vncws.pid, "SIGHUP");
    await until(async () => (await read()).quality === 2 || undefined, "reloaded settings");
    Deno.writeTextFileSync(defaults, "{not json");
    Deno.kill(vncws.pid, "SIGHUP");
    await vncws.waitFor("reload of --config failed");
    assert.deepEqual(await read(), { quality: 2 });
  });
});
