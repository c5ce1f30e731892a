/**
 * Raw sessions (native VNC viewers: a client that sends nothing within
 * `--raw-wait`) get the same session options as WebSocket sessions:
 * `--session-idle-timeout` ends an idle one, `--traffic` prints its symbols.
 * vncws runs as a real process; the client is a plain TCP socket.
 */
import assert from "node:assert/strict";
import { freePort, readExactly, writeAll } from "../../scripts/testing/util.ts";
import { startProxy } from "../../scripts/testing/targets.ts";
import { raceTimeout, TIMEOUT } from "../../src/base/time.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Reads until EOF or `ms` pass; resolves whether EOF came first. */
async function closedWithin(conn: Deno.Conn, ms: number): Promise<boolean> {
  const buf = new Uint8Array(1024);
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    const r = await raceTimeout(conn.read(buf).catch(() => null), left);
    if (r === TIMEOUT) return false;
    if (r === null) return true;
  }
}

Deno.test({
  name:
    "raw session: --traffic prints its symbols, live byte counts, --session-idle-timeout ends it",
  ...opts,
  async fn() {
    const mport = freePort();
    await using p = await startProxy([
      "--metrics",
      String(mport),
      "--raw-wait",
      "0.2",
      "--session-idle-timeout",
      "1",
      "--traffic",
    ]);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: p.port });
    try {
      // Silent past --raw-wait: relayed raw, the target's banner arrives.
      assert.equal(dec.decode(await readExactly(conn, 12)), "RFB 003.008\n");
      const before = p.vncws.output().length;
      await writeAll(conn, enc.encode("hello"));
      assert.equal(dec.decode(await readExactly(conn, 5)), "hello");
      // The symbols are written when the bytes move; give stdout a moment.
      const all = (text: string) => ["}", ">", "{", "<"].every((c) => text.includes(c));
      for (let i = 0; i < 40 && !all(p.vncws.output().slice(before)); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const symbols = p.vncws.output().slice(before);
      assert.match(symbols, /}/, "client → vncws read symbol");
      assert.match(symbols, />/, "vncws → target write symbol");
      assert.match(symbols, /\{/, "target → vncws read symbol");
      assert.match(symbols, /</, "vncws → client write symbol");
      const live = await (await fetch(`http://127.0.0.1:${mport}/sessions.json`)).json();
      assert.equal(live.length, 1);
      assert.equal(live[0].bytesToTarget, 5);
      assert.equal(live[0].bytesToClient, 12 + 5);
      // Now idle: closed by vncws after about 1 s, not held open.
      const t0 = Date.now();
      assert.ok(await closedWithin(conn, 6000), "the idle raw session was not closed");
      assert.ok(Date.now() - t0 >= 500, "closed before the idle timeout");
      await p.vncws.waitFor(/raw session end .*idle timeout/, 5000);
    } finally {
      conn.close();
    }
  },
});

Deno.test({
  name: "raw session without --session-idle-timeout stays open while idle",
  ...opts,
  async fn() {
    await using p = await startProxy(["--raw-wait", "0.2"]);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: p.port });
    try {
      assert.equal(dec.decode(await readExactly(conn, 12)), "RFB 003.008\n");
      // Idle for twice the other test's timeout; a closed session fails the echo below.
      await new Promise((r) => setTimeout(r, 2000));
      await writeAll(conn, enc.encode("still here"));
      assert.equal(dec.decode(await readExactly(conn, 10)), "still here");
      assert.doesNotMatch(p.vncws.output(), /[{}<>]/, "traffic symbols without --traffic");
    } finally {
      conn.close();
    }
  },
});
