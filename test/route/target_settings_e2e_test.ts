/**
 * A token's settings end to end: the real vncws process with a TokenFile,
 * a real TCP target and real WebSocket clients (the test client and python
 * websocket-client). `max_duration` closes a live session with 1008
 * "session time limit", `expires` with 1008 "token expired" (and a passed
 * one is a 404), a bad line is logged and skipped while the file's other
 * tokens are served, and the password and user name appear in no output:
 * not the log at `-vv`, not `/sessions.json`, the status page or `/metrics`.
 */
import assert from "node:assert/strict";
import {
  freePort,
  type Proc,
  PYTHON,
  skipUnless,
  skipUnlessPython,
  startProcess,
  startVncws,
  startXtigervnc,
  tempDir,
  writeVncPasswordFile,
} from "../../scripts/testing/util.ts";
import { startEchoTarget, type TestTarget } from "../../scripts/testing/targets.ts";
import { type TestWs, wsConnect } from "../../scripts/testing/ws_client.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const dec = new TextDecoder();

/** Runs `fn` with an echo target, a token file of `lines(targetPort)` and vncws on it (`extra` args). */
async function withTokens(
  lines: (port: number) => string[],
  extra: string[],
  fn: (port: number, vncws: Proc, file: string, targetPort: number) => Promise<void>,
): Promise<void> {
  const target: TestTarget = startEchoTarget();
  using dir = tempDir();
  const file = `${dir.path}/tokens`;
  Deno.writeTextFileSync(file, lines(target.port).join("\n") + "\n");
  const port = freePort();
  let vncws: Proc | undefined;
  try {
    vncws = await startVncws([
      "--token-plugin",
      "TokenFile",
      "--token-source",
      file,
      ...extra,
      String(port),
    ]);
    await fn(port, vncws, file, target.port);
  } finally {
    await vncws?.stop();
    await target.close();
  }
}

/** Opens a session with `token` and checks it relays (banner, then an echo). */
async function open(port: number, token: string): Promise<TestWs> {
  const ws = await wsConnect(port, { path: `/websockify?token=${token}` });
  assert.equal(ws.response.status, 101, token);
  assert.equal(dec.decode(await ws.readBytes(12)), "RFB 003.008\n");
  await ws.sendBinary("ping");
  assert.equal(dec.decode(await ws.readBytes(4)), "ping");
  return ws;
}

/** The HTTP status of an upgrade with `token` (101 = a session, closed at once). */
async function upgradeStatus(port: number, token: string): Promise<number> {
  const ws = await wsConnect(port, { path: `/websockify?token=${token}` });
  ws.close();
  return ws.response.status;
}

Deno.test({
  name: "token file max_duration=1 closes its live session 1008 'session time limit'; " +
    "a token without it stays",
  ...opts,
  async fn() {
    await withTokens(
      (t) => [`short: 127.0.0.1:${t} max_duration=1`, `long: 127.0.0.1:${t}`],
      [],
      async (port, vncws) => {
        const short = await open(port, "short");
        const long = await open(port, "long");
        assert.deepEqual(await short.closeWithin(15_000), {
          code: 1008,
          reason: "session time limit",
        });
        await vncws.waitFor(/session end .*session time limit/, 5000);
        await long.sendBinary("still");
        assert.equal(dec.decode(await long.readBytes(5)), "still");
        // Last: a close waited for and not come leaves a read pending on the socket.
        assert.equal(await long.closeWithin(1500), "still open");
        short.close();
        long.close();
      },
    );
  },
});

/**
 * python websocket-client opens the URL, checks the banner and an echo, then
 * waits (at most 20 s) for the server's close frame: "CLOSE <code> <reason>",
 * or "STATUS <code>" when the upgrade is refused.
 */
const UNTIL_CLOSE = `
import struct, sys, websocket
try:
    ws = websocket.create_connection(sys.argv[1], timeout=20)
except websocket.WebSocketBadStatusException as e:
    print("STATUS", e.status_code)
    sys.exit(0)
assert ws.recv() == b"RFB 003.008\\n"
ws.send_binary(b"echo")
assert ws.recv() == b"echo"
while True:
    opcode, data = ws.recv_data(control_frame=True)
    if opcode == websocket.ABNF.OPCODE_CLOSE:
        print("CLOSE", struct.unpack("!H", data[:2])[0], data[2:].decode())
        break
`;

async function pythonClient(port: number, token: string): Promise<string> {
  const p = startProcess(PYTHON, [
    "-c",
    UNTIL_CLOSE,
    `ws://127.0.0.1:${port}/websockify?token=${token}`,
  ]);
  const status = await p.status;
  assert.ok(status.success, p.output());
  return p.output().trim();
}

Deno.test({
  name: "token file expires a few seconds ahead closes 1008 'token expired'; " +
    "a passed one is 404; a token without expires stays",
  ...opts,
  ignore: skipUnlessPython("websocket", "apt-get install python3-websocket"),
  async fn() {
    const now = Math.floor(Date.now() / 1000);
    await withTokens(
      (t) => [
        `soon: 127.0.0.1:${t} expires=${now + 3}`,
        `past: 127.0.0.1:${t} expires=${now - 60}`,
        `open: 127.0.0.1:${t}`,
      ],
      [],
      async (port) => {
        const stays = await open(port, "open");
        assert.equal(await pythonClient(port, "soon"), "CLOSE 1008 token expired");
        assert.equal(await pythonClient(port, "past"), "STATUS 404");
        assert.equal(await upgradeStatus(port, "past"), 404);
        await stays.sendBinary("still");
        assert.equal(dec.decode(await stays.readBytes(5)), "still");
        assert.equal(await stays.closeWithin(1000), "still open");
        stays.close();
      },
    );
  },
});

Deno.test({
  name: "a bad token file line is logged (file, line, key; no password) and skipped; " +
    "the file's other tokens are served, and the fixed line is too",
  ...opts,
  async fn() {
    const secret = "Bad-Line-Secret-41";
    await withTokens(
      (t) => [
        `good: 127.0.0.1:${t} view_only=false`,
        `typo: 127.0.0.1:${t} password=${secret} viewonly=true`,
        `other: 127.0.0.1:${t}`,
      ],
      [],
      async (port, vncws, file, t) => {
        // The file is read at the first lookup.
        (await open(port, "good")).close();
        (await open(port, "other")).close();
        assert.equal(await upgradeStatus(port, "typo"), 404);
        const line = await vncws.waitFor(/token file syntax error.*line=2 key=viewonly/, 5000);
        assert.match(line, new RegExp(`file=${file} `));
        assert.match(line, /did you mean view_only/);
        assert.ok(!vncws.output().includes(secret), "the bad line's password is in the log");
        // Fixed (TokenFile re-reads a changed file): now it resolves.
        Deno.writeTextFileSync(file, `typo: 127.0.0.1:${t} max_duration=600\n`);
        (await open(port, "typo")).close();
      },
    );
  },
});

Deno.test({
  name: "no password or user name in any output at -vv: log, /sessions.json, status page, /metrics",
  ...opts,
  ignore: skipUnless(
    ["Xtigervnc", "tigervncpasswd"],
    "apt-get install tigervnc-standalone-server tigervnc-tools",
  ),
  async fn() {
    // The VNC server really wants this password: the session is the same once vncws answers
    // the server's authentication itself.
    const password = "Pw7731Zq";
    const username = "User-Never-Shown-5512";
    using dir = tempDir();
    await writeVncPasswordFile(`${dir.path}/passwd`, password);
    const server = await startXtigervnc({ passwordFile: `${dir.path}/passwd` });
    const file = `${dir.path}/tokens`;
    const t = server.rfbPort;
    Deno.writeTextFileSync(
      file,
      [
        `desk: 127.0.0.1:${t} password="${password}" view_only=true`,
        `plain: 127.0.0.1:${t} password='${password}' username='${username}' clipboard=none`,
        `broken: 127.0.0.1:${t} password="${password}" username=${username} colour=red`,
        `unclosed: 127.0.0.1:${t} password="${password}`,
      ].join("\n"),
    );
    const port = freePort();
    const mport = freePort();
    let vncws: Proc | undefined;
    try {
      vncws = await startVncws([
        "-vv",
        "--metrics",
        String(mport),
        "--token-plugin",
        "TokenFile",
        "--token-source",
        file,
        String(port),
      ]);
      const ws = await wsConnect(port, { path: "/websockify?token=desk" });
      assert.equal(ws.response.status, 101);
      assert.equal(dec.decode(await ws.readBytes(12)), "RFB 003.008\n");
      // vncws answered the server's VncAuth with the token's password: the viewer is offered
      // None only and gets the server's own ServerInit (Xtigervnc's 320x240).
      await ws.sendBinary("RFB 003.008\n");
      assert.deepEqual([...await ws.readBytes(2)], [1, 1]);
      await ws.sendBinary(new Uint8Array([1]));
      assert.deepEqual([...await ws.readBytes(4)], [0, 0, 0, 0]);
      await ws.sendBinary(new Uint8Array([1]));
      const init = new DataView((await ws.readBytes(24)).buffer);
      assert.deepEqual([init.getUint16(0), init.getUint16(2)], [320, 240]);
      const pages: string[] = [];
      for (const path of ["/sessions.json", "/", "/metrics"]) {
        const res = await fetch(`http://127.0.0.1:${mport}${path}`);
        assert.equal(res.status, 200, path);
        pages.push(await res.text());
      }
      // The session is listed, so the pages were looked at with it live.
      const live = JSON.parse(pages[0]);
      assert.equal(live.length, 1);
      assert.match(JSON.stringify(live[0]), new RegExp(`127\\.0\\.0\\.1:${t}`));
      ws.close();
      await vncws.waitFor("session end", 10_000);
      // The token with a user name is routed too (whatever the server then makes of it).
      (await wsConnect(port, { path: "/websockify?token=plain" })).close();
      assert.equal(await upgradeStatus(port, "broken"), 404);
      await vncws.waitFor(/line=3 key=colour/, 5000);
      await vncws.waitFor(/line=4 key=password/, 5000);
      await vncws.stop();
      const output = vncws.output();
      // The log was verbose (debug lines are there) and saw the sessions.
      assert.match(output, /DEBUG/);
      assert.match(output, /session start/);
      for (const text of [output, ...pages]) {
        assert.ok(!text.includes(password), "the password was shown");
        assert.ok(!text.includes(username), "the user name was shown");
      }
    } finally {
      await vncws?.stop();
      await server.stop();
    }
  },
});
