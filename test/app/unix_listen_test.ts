/**
 * `--unix-listen PATH` end to end: a second vncws on a path a running one
 * serves exits with an error naming it while the first keeps serving; a
 * stale socket file is replaced; a file that is not a socket is an error;
 * vncws removes its own socket at exit.
 */
import assert from "node:assert/strict";
import {
  MAIN,
  readExactly,
  startProcess,
  startVncws,
  tempDir,
} from "../../scripts/testing/util.ts";
import { startEchoTarget } from "../../scripts/testing/targets.ts";
import { exists } from "../../src/base/fs.ts";
import { raceTimeout, STOPPED, TIMEOUT } from "../../src/base/time.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const dec = new TextDecoder();

/** vncws on the unix socket `path` in front of the echo target, relaying silent clients raw. */
function args(path: string, targetPort: number): string[] {
  return ["--unix-listen", path, "--raw-wait", "0.2", `127.0.0.1:${targetPort}`];
}

/** A raw client through the unix socket reads the target's banner. */
async function bannerVia(path: string): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path });
  try {
    return dec.decode(await readExactly(conn, 12));
  } finally {
    conn.close();
  }
}

Deno.test({
  name: "--unix-listen: a second vncws on a served path exits naming it; the first keeps serving",
  ...opts,
  async fn() {
    using dir = tempDir();
    const target = startEchoTarget();
    const path = `${dir.path}/vncws.sock`;
    const first = await startVncws(args(path, target.port));
    try {
      assert.equal(await bannerVia(path), "RFB 003.008\n");
      const ino = Deno.statSync(path).ino;
      const second = startProcess(Deno.execPath(), ["run", "-A", MAIN, ...args(path, target.port)]);
      const status = await raceTimeout(second.status, 15000);
      if (status === TIMEOUT || status === STOPPED) {
        await second.stop("SIGKILL");
        assert.fail(`the second vncws kept running:\n${second.output()}`);
      }
      assert.equal(status.code, 1, second.output());
      assert.match(second.output(), /another process serves the unix socket/);
      assert.match(second.output(), /choose another --unix-listen path/);
      assert.ok(second.output().includes(path), second.output());
      // The first one's socket is untouched and still serves.
      assert.equal(Deno.statSync(path).ino, ino);
      assert.equal(await bannerVia(path), "RFB 003.008\n");
    } finally {
      await first.stop();
      await target.close();
    }
  },
});

Deno.test({
  name: "--unix-listen: a stale socket is replaced, and vncws removes its socket at exit",
  ...opts,
  async fn() {
    using dir = tempDir();
    const target = startEchoTarget();
    const path = `${dir.path}/vncws.sock`;
    // A socket file nobody accepts on: what a killed server leaves behind.
    const killed = startProcess(Deno.execPath(), [
      "eval",
      `Deno.listen({ transport: "unix", path: ${JSON.stringify(path)} }); console.log("up");` +
      "setTimeout(() => {}, 60000);",
    ]);
    await killed.waitFor("up");
    await killed.stop("SIGKILL");
    assert.ok(Deno.lstatSync(path).isSocket, "the stale socket file should be left in place");
    const vncws = await startVncws(args(path, target.port));
    try {
      assert.equal(await bannerVia(path), "RFB 003.008\n");
      assert.ok(exists(path));
    } finally {
      const status = await vncws.stop("SIGTERM");
      await target.close();
      assert.equal(status.code, 0, vncws.output());
    }
    assert.equal(exists(path), false, "the socket file is still there after SIGTERM");
  },
});

Deno.test({
  name: "--unix-listen: at exit a socket another process put at the path is left alone",
  ...opts,
  async fn() {
    using dir = tempDir();
    const target = startEchoTarget();
    const path = `${dir.path}/vncws.sock`;
    const vncws = await startVncws(args(path, target.port));
    // Someone replaces the file while vncws runs (it can no longer be reached by it).
    Deno.removeSync(path);
    const other = Deno.listen({ transport: "unix", path });
    try {
      await vncws.stop("SIGTERM");
      assert.ok(exists(path), "vncws removed a socket it did not make");
    } finally {
      other.close();
      await target.close();
    }
  },
});

Deno.test({
  name: "--unix-listen: a file that is not a socket is an error naming it, and is kept",
  ...opts,
  async fn() {
    using dir = tempDir();
    const path = `${dir.path}/not-a-socket`;
    Deno.writeTextFileSync(path, "data");
    const p = startProcess(Deno.execPath(), ["run", "-A", MAIN, ...args(path, 5900)]);
    const status = await p.status;
    assert.equal(status.code, 1, p.output());
    assert.match(p.output(), /not a socket/);
    assert.ok(p.output().includes(path), p.output());
    assert.equal(Deno.readTextFileSync(path), "data");
  },
});
