/**
 * Sessions end when their right to exist ends, end to end: the real vncws
 * process, a real TCP target, a TokenFile or a JWT key file, and a real
 * WebSocket client reading the close frame. A revoked token closes its
 * session (1008 "token revoked") while another token's stays open;
 * `--max-session` closes with "session time limit"; a JWT closes at its
 * `exp` with "token expired" while one without `exp` stays.
 */
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { freePort, type Proc, readToEof, startVncws, tempDir } from "../../scripts/testing/util.ts";
import { startEchoTarget } from "../../scripts/testing/targets.ts";
import { type TestWs, wsConnect } from "../../scripts/testing/ws_client.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** Runs `fn` with vncws started as `ARGS PORT ...target`. */
async function withVncws(
  args: string[],
  fn: (port: number, vncws: Proc) => Promise<void>,
  target: string[] = [],
) {
  const port = freePort();
  const vncws = await startVncws([...args, String(port), ...target]);
  try {
    await fn(port, vncws);
  } finally {
    await vncws.stop();
  }
}

/** Opens a session with `token` and checks it relays (banner, then an echo). */
async function open(port: number, token: string): Promise<TestWs> {
  const ws = await wsConnect(port, { path: `/websockify?token=${token}` });
  assert.equal(ws.response.status, 101);
  assert.equal(new TextDecoder().decode(await ws.readBytes(12)), "RFB 003.008\n");
  await ws.sendBinary("ping");
  assert.equal(new TextDecoder().decode(await ws.readBytes(4)), "ping");
  return ws;
}

/** The session still relays: an echo comes back. */
async function stillRelays(ws: TestWs): Promise<void> {
  await ws.sendBinary("still");
  assert.equal(new TextDecoder().decode(await ws.readBytes(5)), "still");
}

Deno.test({
  name: "--token-recheck: a token removed from the TokenFile closes its session 1008; " +
    "another token's stays",
  ...opts,
  async fn() {
    const target = startEchoTarget();
    using dir = tempDir();
    const file = `${dir.path}/tokens`;
    const line = (t: string) => `${t}: 127.0.0.1:${target.port}\n`;
    Deno.writeTextFileSync(file, line("keep") + line("gone"));
    const args = ["--token-plugin", "TokenFile", "--token-source", file, "--token-recheck", "1"];
    try {
      await withVncws(args, async (port, vncws) => {
        const keep = await open(port, "keep");
        const gone = await open(port, "gone");
        Deno.writeTextFileSync(file, line("keep") + "# gone was revoked\n");
        assert.deepEqual(await gone.closeWithin(15_000), { code: 1008, reason: "token revoked" });
        await stillRelays(keep);
        assert.equal(await keep.closeWithin(1500), "still open");
        await vncws.waitFor("token revoked", 5000); // the session-end line says why
        keep.close();
        gone.close();
      });
    } finally {
      await target.close();
    }
  },
});

Deno.test({
  name: "--token-recheck 0: a removed token's session stays open",
  ...opts,
  async fn() {
    const target = startEchoTarget();
    using dir = tempDir();
    const file = `${dir.path}/tokens`;
    Deno.writeTextFileSync(file, `gone: 127.0.0.1:${target.port}\n`);
    const args = ["--token-plugin", "TokenFile", "--token-source", file, "--token-recheck", "0"];
    try {
      await withVncws(args, async (port) => {
        const gone = await open(port, "gone");
        Deno.writeTextFileSync(file, "# gone was revoked, but nobody looks\n");
        await new Promise((resolve) => setTimeout(resolve, 2500));
        await stillRelays(gone);
        // Last: a close waited for and not come leaves a read pending on the socket.
        assert.equal(await gone.closeWithin(500), "still open");
        gone.close();
      });
    } finally {
      await target.close();
    }
  },
});

Deno.test({
  name: "--max-session 1: the session closes 1008 'session time limit'; without it, it stays",
  ...opts,
  async fn() {
    const target = startEchoTarget();
    const fixed = `127.0.0.1:${target.port}`;
    try {
      await withVncws(["--max-session", "1"], async (port) => {
        const ws = await open(port, "x");
        assert.deepEqual(await ws.closeWithin(15_000), {
          code: 1008,
          reason: "session time limit",
        });
        ws.close();
      }, [fixed]);
      await withVncws([], async (port) => {
        const ws = await open(port, "x");
        assert.equal(await ws.closeWithin(2500), "still open");
        ws.close();
      }, [fixed]);
    } finally {
      await target.close();
    }
  },
});

Deno.test({
  name: "JWTTokenApi: a token whose exp passes closes 1008 'token expired'; one without exp stays",
  ...opts,
  async fn() {
    const target = startEchoTarget();
    using dir = tempDir();
    const secret = crypto.getRandomValues(new Uint8Array(32));
    const keyFile = `${dir.path}/jwt.key`;
    const b64url = btoa(String.fromCharCode(...secret)).replaceAll("+", "-").replaceAll("/", "_")
      .replace(/=+$/, "");
    Deno.writeTextFileSync(keyFile, `${b64url}\n`);
    const mint = (exp?: number) => {
      const jwt = new SignJWT({ host: "127.0.0.1", port: target.port }).setProtectedHeader({
        alg: "HS256",
      });
      return (exp === undefined ? jwt : jwt.setExpirationTime(exp)).sign(secret);
    };
    const soon = await mint(Math.floor(Date.now() / 1000) + 2);
    const lasting = await mint();
    const args = ["--token-plugin", "JWTTokenApi", "--token-source", keyFile];
    try {
      await withVncws(args, async (port) => {
        const expiring = await open(port, soon);
        const stays = await open(port, lasting);
        assert.deepEqual(await expiring.closeWithin(15_000), {
          code: 1008,
          reason: "token expired",
        });
        await stillRelays(stays);
        stays.close();
        expiring.close();
      });
    } finally {
      await target.close();
    }
  },
});

Deno.test({
  name: "--max-session 1 with a raw VNC client: hung up, logged with the reason",
  ...opts,
  async fn() {
    const target = startEchoTarget();
    try {
      await withVncws(["--max-session", "1"], async (port, vncws) => {
        // A native viewer sends nothing first: relayed raw after --raw-wait.
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        // A deadline: a session never ended is closed here, and the log check below fails.
        const deadline = setTimeout(() => conn.close(), 15_000);
        try {
          const got = await readToEof(conn);
          clearTimeout(deadline);
          assert.equal(new TextDecoder().decode(got), "RFB 003.008\n");
          await vncws.waitFor(/raw session end.*session time limit/, 5000);
        } finally {
          clearTimeout(deadline);
          try {
            conn.close();
          } catch { /* closed at the deadline */ }
        }
      }, [`127.0.0.1:${target.port}`]);
    } finally {
      await target.close();
    }
  },
});
