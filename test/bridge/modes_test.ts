/**
 * Bridge modes with real processes: `--url-command` (a fresh URL per
 * connection, failures shown), `--once`, `--unix-listen` and `--stdio`.
 */
import assert from "node:assert/strict";
import { closePayload, Opcode } from "../../src/ws/frame.ts";
import { freePort, MAIN, readExactly, readToEof, writeAll } from "../../scripts/testing/util.ts";
import {
  accept101,
  ServerFrames,
  startBridge,
  startBridgeProcess,
  startScriptedServer,
  waitForCount,
} from "./_helpers.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Echo server: echoes data, answers pings and the close (whose codes it records). */
function startEchoServer(closeCodes: number[] = []) {
  return startScriptedServer(async (conn, head) => {
    await accept101(conn, head);
    const f = new ServerFrames(conn);
    for (let ev = await f.next(); ev; ev = await f.next()) {
      if (ev.kind === "data") await f.sendBinary(ev.bytes!);
      else if (ev.kind === "ping") await f.send(Opcode.Pong, ev.bytes!);
      else if (ev.kind === "close") {
        closeCodes.push(ev.code!);
        return await f.send(Opcode.Close, closePayload(ev.code!));
      }
    }
  });
}

async function echoOnce(conn: Deno.Conn, text: string): Promise<void> {
  await writeAll(conn, enc.encode(text));
  assert.equal(dec.decode(await readExactly(conn, text.length)), text);
  await conn.closeWrite();
  assert.equal((await readToEof(conn)).length, 0);
  conn.close();
}

Deno.test({
  name: "bridge --url-command: a fresh URL per connection; a failing command is reported",
  ...opts,
  async fn() {
    const server = startEchoServer();
    const dir = await Deno.makeTempDir({ prefix: "vncws-bridge-url-" });
    // Prints ws://…/ticket/N with N counting up, like a ticket service would.
    const cmd = `n=$(cat ${dir}/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${dir}/n; ` +
      `if [ -e ${dir}/fail ]; then echo "ticket service down" >&2; exit 3; fi; ` +
      `echo ws://127.0.0.1:${server.port}/ticket/$n; echo ignored second line`;
    const port = freePort();
    const bridge = await startBridge([String(port), "--url-command", cmd]);
    try {
      await echoOnce(await Deno.connect({ hostname: "127.0.0.1", port }), "one");
      await echoOnce(await Deno.connect({ hostname: "127.0.0.1", port }), "two");
      assert.match(server.requests[0], /^GET \/ticket\/1 /);
      assert.match(server.requests[1], /^GET \/ticket\/2 /);
      await Deno.writeTextFile(`${dir}/fail`, "");
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      assert.equal((await readToEof(c)).length, 0);
      c.close();
      await waitForCount(bridge, /no URL for the connection/, 1);
      assert.match(bridge.output(), /--url-command failed \(exit 3\): ticket service down/);
      assert.match(bridge.output(), /url="from --url-command"/);
    } finally {
      await bridge.stop();
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "bridge --once: exits 0 after the first session; no second connection",
  ...opts,
  async fn() {
    const server = startEchoServer();
    const port = freePort();
    const bridge = await startBridge([
      "--once",
      `ws://127.0.0.1:${server.port}/`,
      `127.0.0.1:${port}`,
    ]);
    try {
      await echoOnce(await Deno.connect({ hostname: "127.0.0.1", port }), "only once");
      assert.equal((await bridge.status).code, 0, bridge.output());
      await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }));
      assert.equal(server.requests.length, 1);
    } finally {
      await bridge.stop();
      await server.close();
    }
  },
});

Deno.test({
  name: "bridge --unix-listen: sessions over a unix socket; the socket file is removed at exit",
  ...opts,
  async fn() {
    const server = startEchoServer();
    const dir = await Deno.makeTempDir({ prefix: "vncws-bridge-unix-" });
    const path = `${dir}/vnc.sock`;
    const bridge = await startBridge([
      "--unix-listen",
      path,
      `ws://127.0.0.1:${server.port}/`,
    ]);
    try {
      for (const text of ["first", "second"]) {
        await echoOnce(await Deno.connect({ transport: "unix", path }), text);
      }
      await waitForCount(bridge, /session end client=unix/, 2);
      const status = await bridge.stop();
      assert.equal(status.code, 0, bridge.output());
      await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
    } finally {
      await bridge.stop();
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "bridge --unix-listen: a second bridge on a served socket exits 1, the first keeps it",
  ...opts,
  async fn() {
    const server = startEchoServer();
    const dir = await Deno.makeTempDir({ prefix: "vncws-bridge-unix-" });
    const path = `${dir}/vnc.sock`;
    const url = `ws://127.0.0.1:${server.port}/`;
    const first = await startBridge(["--unix-listen", path, url]);
    try {
      const ino = Deno.statSync(path).ino;
      const second = startBridgeProcess(["--unix-listen", path, url]);
      const status = await second.status;
      assert.equal(status.code, 1, second.output());
      assert.match(second.output(), /another process serves the unix socket/);
      assert.match(second.output(), /choose another --unix-listen path/);
      // The first bridge's socket is the same file and still serves.
      assert.equal(Deno.statSync(path).ino, ino);
      await echoOnce(await Deno.connect({ transport: "unix", path }), "still here");
    } finally {
      await first.stop();
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "bridge --stdio: one session over stdin/stdout, exit 0 at stdin EOF",
  ...opts,
  async fn() {
    const server = startEchoServer();
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "bridge", "--stdio", `ws://127.0.0.1:${server.port}/`],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    try {
      const data = crypto.getRandomValues(new Uint8Array(50_000));
      const writer = child.stdin.getWriter();
      await writer.write(data);
      // Read the echo before closing stdin: the bridge then closes the WebSocket.
      const reader = child.stdout.getReader();
      const got: number[] = [];
      while (got.length < data.length) {
        const r = await reader.read();
        if (r.done) break;
        got.push(...r.value);
      }
      assert.deepEqual(new Uint8Array(got), data);
      await writer.close();
      const rest = await reader.read();
      assert.equal(rest.done, true);
      reader.releaseLock();
      const status = await child.status;
      assert.equal(status.code, 0, await stderr);
      assert.match(await stderr, /session end client=stdio .*up=50000 down=50000/);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await server.close();
    }
  },
});

Deno.test({
  name: "bridge SIGTERM: open sessions close with 1001, the local side sees EOF, exit 0",
  ...opts,
  async fn() {
    const codes: number[] = [];
    const server = startEchoServer(codes);
    const port = freePort();
    const bridge = await startBridge([String(port), `ws://127.0.0.1:${server.port}/`]);
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      await writeAll(c, enc.encode("hi"));
      assert.equal(dec.decode(await readExactly(c, 2)), "hi");
      const status = await bridge.stop("SIGTERM");
      assert.equal(status.code, 0, bridge.output());
      assert.equal((await readToEof(c)).length, 0);
      c.close();
      assert.deepEqual(codes, [1001]);
      assert.match(bridge.output(), /session end .*code=1001 reason="bridge shutting down"/);
    } finally {
      await bridge.stop();
      await server.close();
    }
  },
});

Deno.test({
  name: "bridge: a local client that leaves while the WebSocket opens cancels the attempt",
  ...opts,
  async fn() {
    let serverSawEof = false;
    // Never answers the handshake; notices when the bridge gives up.
    const server = startScriptedServer(async (conn) => {
      await readToEof(conn);
      serverSawEof = true;
    });
    const port = freePort();
    const bridge = await startBridge([
      String(port),
      `ws://127.0.0.1:${server.port}/`,
      "--connect-timeout",
      "600",
    ]);
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      // Wait until the bridge's attempt reached the server, then leave.
      while (server.requests.length === 0) await new Promise((r) => setTimeout(r, 20));
      c.close();
      await waitForCount(bridge, /local side left before the WebSocket opened/, 1);
      // The bridge closed its side of the attempt (the server is still up, so this is its EOF).
      for (let t = 0; t < 250 && !serverSawEof; t++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(serverSawEof, true);
    } finally {
      await bridge.stop();
      await server.close();
    }
  },
});
