/**
 * `--allow-target`/`--deny-target` end to end: vncws as a real process with a
 * token file, a real TCP target on loopback, python's websocket-client as the
 * client, and `--config` re-read on SIGHUP.
 */
import assert from "node:assert/strict";
import {
  freePort,
  MAIN,
  PYTHON,
  skipUnless,
  skipUnlessPython,
  startProcess,
  startVncws,
  tempDir,
} from "../../scripts/testing/util.ts";
import { listenTcp } from "../../scripts/testing/targets.ts";
import { readAll, wsConnect } from "../../scripts/testing/ws_client.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const ignore = skipUnlessPython("websocket", "apt-get install python3-websocket");

/** Opens each token's URL with websocket-client; prints "token status [first bytes]". */
const CLIENT = `
import sys, websocket
port = sys.argv[1]
for token in sys.argv[2:]:
    try:
        ws = websocket.create_connection(
            "ws://127.0.0.1:%s/websockify?token=%s" % (port, token), timeout=10)
        first = ws.recv()
        print(token, 101, (first if isinstance(first, str) else first.decode())[:3])
        ws.close()
    except websocket.WebSocketBadStatusException as e:
        print(token, e.status_code)
`;

/** Each token's status and, for a 101, the target's first bytes. */
async function open(port: number, tokens: string[]): Promise<Record<string, [number, string]>> {
  const py = startProcess(PYTHON, ["-c", CLIENT, String(port), ...tokens]);
  const status = await py.status;
  assert.ok(status.success, py.output());
  const out: Record<string, [number, string]> = {};
  for (const line of py.output().trim().split("\n")) {
    const [token, code, rest] = line.split(" ");
    out[token] = [Number(code), rest ?? ""];
  }
  return out;
}

/** A VNC-like target on 127.0.0.1 that counts its connections. */
function countingTarget() {
  let connections = 0;
  const server = listenTcp(async (conn) => {
    connections++;
    await conn.write(new TextEncoder().encode("RFB 003.008\n"));
    await conn.read(new Uint8Array(1)).catch(() => null);
  });
  return { ...server, connections: () => connections };
}

Deno.test({
  name:
    "token targets: allowed blocks pass, metadata and uncovered addresses get 403 without a connect",
  ignore,
  ...opts,
  async fn() {
    const target = countingTarget();
    using dir = tempDir();
    const tokens = `${dir.path}/tokens`;
    Deno.writeTextFileSync(
      tokens,
      [
        "meta: 169.254.169.254:80",
        `here: 127.0.0.1:${target.port}`,
        `other: 127.0.0.2:${target.port}`,
        `local: localhost:${target.port}`,
      ].join("\n") + "\n",
    );
    const config = `${dir.path}/vncws.toml`;
    // ::1 too: where /etc/hosts also maps localhost to ::1, every address must be covered.
    Deno.writeTextFileSync(config, `allow-target = ["127.0.0.1/32", "::1"]\n`);
    const port = freePort();
    const vncws = await startVncws([
      "--config",
      config,
      "--token-plugin",
      "TokenFile",
      "--token-source",
      tokens,
      String(port),
    ]);
    try {
      const first = await open(port, ["meta", "here", "other", "local"]);
      assert.deepEqual(first.here, [101, "RFB"]);
      assert.deepEqual(first.local, [101, "RFB"], "localhost resolves into the allow list");
      assert.deepEqual(first.meta, [403, ""]);
      assert.deepEqual(first.other, [403, ""]);
      assert.equal(target.connections(), 2, "only the allowed targets were connected");
      // The client learns that the target is not allowed, not where it pointed.
      const raw = await wsConnect(port, { path: "/websockify?token=meta" });
      const body = new TextDecoder().decode(raw.response.rest) + await readAll(raw.conn);
      raw.close();
      assert.equal(raw.response.status, 403);
      assert.match(body, /target not allowed/);
      assert.doesNotMatch(body, /169\.254|link-local/);
      // The log line names the token's hash, the target and the refused address.
      const log = vncws.output();
      assert.match(
        log,
        /refused .*kind=target_denied status=403 why="169\.254\.169\.254 is a link-local.*target=169\.254\.169\.254:80 token=[0-9a-f]{12} address=169\.254\.169\.254:80/,
      );
      assert.match(log, /kind=target_denied .*not covered by --allow-target.*target=127\.0\.0\.2:/);
      assert.doesNotMatch(log, /kind=connect_failed/, "no refused target was dialled");
      assert.doesNotMatch(log, /token=(meta|here|other|local)\b/, "raw tokens are not logged");

      // SIGHUP with --config: the new lists apply. A name is refused when an address it
      // resolves to is denied.
      Deno.writeTextFileSync(
        config,
        `allow-target = ["127.0.0.0/8", "::1"]\ndeny-target = ["127.0.0.0/8", "::1"]\n`,
      );
      Deno.kill(vncws.pid, "SIGHUP");
      await vncws.waitFor("routing and access settings reloaded");
      const after = await open(port, ["here", "local", "meta"]);
      assert.deepEqual(after.here, [403, ""], "deny wins over allow");
      assert.deepEqual(after.local, [403, ""]);
      assert.deepEqual(after.meta, [403, ""]);
      assert.equal(target.connections(), 2, "no new connection reached the target");
      assert.match(vncws.output(), /target=localhost:\d+ token=\w+ address=127\.0\.0\.1:\d+/);
    } finally {
      await vncws.stop();
      await target.close();
    }
  },
});

Deno.test({
  name: "a bad --allow-target stops the start (exit 2) naming the option and the forms",
  ...opts,
  async fn() {
    const p = startProcess(Deno.execPath(), [
      "run",
      "-A",
      MAIN,
      "--token-plugin",
      "TokenFile",
      "--token-source",
      "/dev/null",
      "--allow-target",
      "10.0.0.0/8:99999",
      String(freePort()),
    ]);
    const status = await p.status;
    assert.equal(status.code, 2);
    assert.match(p.output(), /--allow-target "10\.0\.0\.0\/8:99999" is not a target rule/);
    assert.match(p.output(), /CIDR\[:PORT\|:LOW-HIGH\]/);
  },
});

Deno.test({
  name: "a fixed target is not checked: --deny-target covering it changes nothing (with a warning)",
  ignore,
  ...opts,
  async fn() {
    const target = countingTarget();
    const port = freePort();
    const vncws = await startVncws([
      "--deny-target",
      "127.0.0.0/8",
      String(port),
      `127.0.0.1:${target.port}`,
    ]);
    try {
      assert.match(vncws.output(), /check the targets of a token plugin only/);
      const r = await open(port, ["x"]);
      assert.deepEqual(r.x, [101, "RFB"]);
      assert.equal(target.connections(), 1);
      assert.doesNotMatch(vncws.output(), /target_denied/);
    } finally {
      await vncws.stop();
      await target.close();
    }
  },
});

Deno.test({
  name: "token targets: a host name that resolves to the metadata address is refused (/etc/hosts)",
  ignore: ignore || skipUnless(["unshare", "mount"], "apt-get install util-linux mount") ||
    Deno.uid() !== 0,
  ...opts,
  async fn() {
    const target = countingTarget();
    using dir = tempDir();
    // vncws runs in its own mount namespace, where this file is /etc/hosts.
    const hosts = `${dir.path}/hosts`;
    Deno.writeTextFileSync(
      hosts,
      "127.0.0.1 localhost\n169.254.169.254 metadata.test\n127.0.0.1 desk.test\n" +
        "127.0.0.1 twofaced.test\n169.254.169.254 twofaced.test\n",
    );
    const tokens = `${dir.path}/tokens`;
    Deno.writeTextFileSync(
      tokens,
      `meta: metadata.test:${target.port}\ndesk: desk.test:${target.port}\n` +
        `both: twofaced.test:${target.port}\n`,
    );
    const port = freePort();
    const vncws = startProcess("unshare", [
      "--mount",
      "sh",
      "-c",
      `mount --bind "${hosts}" /etc/hosts && exec "$0" "$@"`,
      Deno.execPath(),
      "run",
      "-A",
      MAIN,
      "--token-plugin",
      "TokenFile",
      "--token-source",
      tokens,
      `127.0.0.1:${port}`,
    ]);
    try {
      await vncws.waitFor("listening on", 20000);
      const got = await open(port, ["meta", "desk", "both"]);
      assert.deepEqual(got.meta, [403, ""]);
      assert.deepEqual(got.desk, [101, "RFB"]);
      // One of its addresses is the metadata service: refused, though the other is fine.
      assert.deepEqual(got.both, [403, ""]);
      assert.equal(target.connections(), 1, "only desk.test was connected");
      assert.match(vncws.output(), /kind=target_denied.*metadata\.test/);
    } finally {
      await vncws.stop();
      await target.close();
    }
  },
});
