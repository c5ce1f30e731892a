/**
 * End to end: vncws as a real process (`deno run main.ts`) in front of real
 * TCP targets, driven by real clients (python websocket-client, npm ws, raw
 * sockets) and by a frame-exact test client for the protocol corners.
 */
import assert from "node:assert/strict";
import WebSocket from "ws";
import {
  freePort,
  readExactly,
  skipUnless,
  skipUnlessPython,
  startProcess,
  startVncws,
  startXtigervnc,
} from "../../scripts/testing/util.ts";
import { randomBytes, readAll, readResponse, wsConnect } from "../../scripts/testing/ws_client.ts";
import { startProxy } from "../../scripts/testing/targets.ts";
import { Opcode } from "../../src/ws/frame.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test({
  name: "proxy in front of an echo target",
  ...opts,
  async fn(t) {
    await using p = await startProxy([
      "--max-message-size",
      "1M",
      "--head-timeout",
      "1",
      "--max-head-size",
      "4K",
    ]);
    const { port } = p;
    await t.step("handshake, banner, binary echo, close echoed", async () => {
      const ws = await wsConnect(port);
      assert.equal(ws.response.status, 101);
      assert.doesNotMatch(ws.response.head, /Sec-WebSocket-Protocol/i);
      assert.equal(dec.decode(await ws.readBytes(12)), "RFB 003.008\n");
      const data = randomBytes(50000);
      await ws.sendBinary(data);
      assert.deepEqual(await ws.readBytes(data.length), data);
      await ws.sendClose(4000, "done");
      assert.deepEqual(await ws.waitClose(), { code: 4000, reason: "done" });
      ws.close();
    });

    await t.step(
      "text frames are forwarded as bytes (websockify closes them with 1003)",
      async () => {
        const ws = await wsConnect(port);
        await ws.readBytes(12);
        await ws.send(Opcode.Text, "héllo");
        assert.equal(dec.decode(await ws.readBytes(6)), "héllo");
        ws.close();
      },
    );

    await t.step(
      "a fragmented message with a ping in between arrives whole; ping gets a pong",
      async () => {
        const ws = await wsConnect(port);
        await ws.readBytes(12);
        await ws.send(Opcode.Binary, "abc", { fin: false });
        await ws.send(Opcode.Ping, "p1");
        await ws.send(Opcode.Continuation, "def", { fin: false });
        await ws.send(Opcode.Continuation, "ghi");
        const got: string[] = [];
        let pong = "";
        while (got.join("").length < 9) {
          const ev = await ws.next();
          assert.ok(ev);
          if (ev.kind === "pong") pong = dec.decode(ev.payload);
          if (ev.kind === "data") got.push(dec.decode(ev.bytes));
        }
        assert.equal(got.join(""), "abcdefghi");
        if (!pong) {
          const ev = await ws.next();
          assert.equal(ev?.kind, "pong");
          pong = dec.decode((ev as { payload: Uint8Array }).payload);
        }
        assert.equal(pong, "p1");
        ws.close();
      },
    );

    await t.step(
      "subprotocol: binary chosen from 'base64, binary'; the first otherwise",
      async () => {
        const a = await wsConnect(port, { protocols: "base64,  binary" });
        assert.match(a.response.head, /Sec-WebSocket-Protocol: binary/);
        a.close();
        const b = await wsConnect(port, { protocols: "vmware-vvc" });
        assert.match(b.response.head, /Sec-WebSocket-Protocol: vmware-vvc/);
        b.close();
      },
    );

    await t.step("protocol violations close with their codes", async () => {
      const cases: Array<
        [string, (ws: Awaited<ReturnType<typeof wsConnect>>) => Promise<void>, number]
      > = [
        ["unmasked frame", (ws) => ws.send(Opcode.Binary, "x", { mask: null }), 1002],
        ["reserved opcode", (ws) => ws.send(0x3, "x"), 1002],
        ["continuation without start", (ws) => ws.send(Opcode.Continuation, "x"), 1002],
        [
          "message over --max-message-size",
          (ws) => ws.send(Opcode.Binary, new Uint8Array(1024 * 1024 + 1)),
          1009,
        ],
        [
          "close with invalid code",
          (ws) => ws.send(Opcode.Close, new Uint8Array([0x03, 0xed])),
          1002,
        ],
      ];
      for (const [name, act, code] of cases) {
        const ws = await wsConnect(port);
        await ws.readBytes(12);
        await act(ws);
        const c = await ws.waitClose();
        assert.equal(c?.code, code, name);
        ws.close();
      }
    });

    await t.step("bad requests get exact HTTP statuses", async () => {
      const cases: Array<[string, Record<string, string>, number]> = [
        ["version 12", { "Sec-WebSocket-Version": "12" }, 426],
        ["no key", { "Sec-WebSocket-Key": "" }, 400],
        ["bad key", { "Sec-WebSocket-Key": "short" }, 400],
        ["no Connection: upgrade", { Connection: "keep-alive" }, 400],
      ];
      for (const [name, headers, status] of cases) {
        const ws = await wsConnect(port, { headers });
        assert.equal(ws.response.status, status, name);
        ws.close();
      }
      const ws426 = await wsConnect(port, { headers: { "Sec-WebSocket-Version": "12" } });
      assert.match(ws426.response.head, /Sec-WebSocket-Version: 13/);
      ws426.close();
    });

    await t.step("garbage → 400, slow head → 408, huge head → 431, plain GET → 405", async () => {
      const send = async (bytes: string) => {
        const c = await Deno.connect({ hostname: "127.0.0.1", port });
        await c.write(enc.encode(bytes));
        const text = await readAll(c);
        c.close();
        return text;
      };
      assert.match(await send("\x01\x02\x03 garbage\r\n\r\n"), /^HTTP\/1\.1 400 /);
      assert.match(await send("GET / HTTP/1.1\r\nHost: x\r\n"), /^HTTP\/1\.1 408 /);
      assert.match(
        await send("GET / HTTP/1.1\r\nX: " + "a".repeat(5000) + "\r\n\r\n"),
        /^HTTP\/1\.1 431 /,
      );
      assert.match(await send("POST / HTTP/1.1\r\nHost: x\r\n\r\n"), /^HTTP\/1\.1 405 /);
    });

    await t.step("a silent client is relayed raw: it gets the banner and an echo", async () => {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      assert.equal(dec.decode(await readExactly(c, 12)), "RFB 003.008\n");
      await c.write(enc.encode("RFB 003.008\n"));
      assert.equal(dec.decode(await readExactly(c, 12)), "RFB 003.008\n");
      c.close();
    });

    await t.step({
      name: "python websocket-client: text (its default) and binary",
      ignore: skipUnlessPython("websocket", "apt-get install python3-websocket"),
      fn: async () => {
        const py = startProcess("/usr/bin/python3", [
          "-c",
          `
import websocket, sys
ws = websocket.create_connection("ws://127.0.0.1:${port}/websockify")
assert ws.recv() == b"RFB 003.008\\n"
ws.send("text frame")
assert ws.recv() == b"text frame", "text"
ws.send_binary(bytes(range(256)) * 400)
got = b""
while len(got) < 102400: got += ws.recv()
assert got == bytes(range(256)) * 400, "binary"
ws.close()
print("PYTHON-OK")
`,
        ]);
        const st = await py.status;
        assert.ok(st.success && py.output().includes("PYTHON-OK"), py.output());
      },
    });

    await t.step("npm ws client: binary echo with subprotocol binary", async () => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/websockify`, ["binary"]);
      ws.binaryType = "nodebuffer";
      const chunks: Uint8Array[] = [];
      let total = 0;
      const data = randomBytes(300000);
      await new Promise<void>((resolve, reject) => {
        ws.on("error", reject);
        ws.on("message", (m: Uint8Array) => {
          chunks.push(new Uint8Array(m));
          total += m.length;
          if (total === 12) ws.send(data);
          if (total === 12 + data.length) resolve();
        });
      });
      assert.equal(ws.protocol, "binary");
      const all = new Uint8Array(total);
      let o = 0;
      for (const c of chunks) {
        all.set(c, o);
        o += c.length;
      }
      assert.deepEqual(all.subarray(12), data);
      const closed = new Promise<number>((r) => ws.on("close", (code: number) => r(code)));
      ws.close(1000);
      assert.equal(await closed, 1000);
    });
  },
});

Deno.test({
  name: "target closes: the client gets close 1000 'Target closed'",
  ...opts,
  async fn() {
    await using p = await startProxy([], { target: { closeAfterBanner: true } });
    const { port, vncws } = p;
    const ws = await wsConnect(port);
    assert.equal(dec.decode(await ws.readBytes(12)), "RFB 003.008\n");
    assert.deepEqual(await ws.waitClose(), { code: 1000, reason: "Target closed" });
    ws.close();
    await vncws.waitFor(/session end .*reason="?Target closed/);
  },
});

Deno.test({
  name: "target down: HTTP 502 with the reason, before any 101",
  ...opts,
  async fn() {
    const dead = freePort();
    const port = freePort();
    const vncws = await startVncws([String(port), `127.0.0.1:${dead}`]);
    try {
      const ws = await wsConnect(port);
      assert.equal(ws.response.status, 502);
      const body = dec.decode(ws.response.rest) + await readAll(ws.conn);
      assert.match(body, /connection refused/);
      ws.close();
      await vncws.waitFor(/refused .*status=502/);
    } finally {
      await vncws.stop();
    }
  },
});

Deno.test({
  name: "--max-connections: the connection over the limit gets 503, the others keep working",
  ...opts,
  async fn() {
    await using p = await startProxy(["--max-connections", "2"]);
    const { port } = p;
    const a = await wsConnect(port);
    const b = await wsConnect(port);
    assert.equal(a.response.status, 101);
    assert.equal(b.response.status, 101);
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    const r = await readResponse(c);
    assert.equal(r.status, 503);
    assert.match(r.head, /\r\nRetry-After: 5\r\n/i);
    // The client is not told the limit; the log line names the option.
    const body = new TextDecoder().decode(r.rest);
    assert.ok(!body.includes("--max-connections"), body);
    await p.vncws.waitFor(/refused .*status=503 .*--max-connections 2 reached/);
    c.close();
    await a.readBytes(12);
    await a.sendBinary("still alive");
    assert.equal(dec.decode(await a.readBytes(11)), "still alive");
    a.close();
    b.close();
  },
});

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m ? Number(m[1]) : 0;
}

Deno.test({
  name: "backpressure: 256 MiB pushed at a slow target keeps vncws RSS bounded",
  ...opts,
  async fn() {
    // The target reads 64 KiB every 2 ms (~32 MB/s), far slower than the client can send.
    await using p = await startProxy([], {
      target: { banner: "", echo: false, slow: { chunk: 65536, delayMs: 2 } },
    });
    const { target, port, vncws } = p;
    const ws = await wsConnect(port);
    const before = rssKiB(vncws.pid);
    const chunk = new Uint8Array(1024 * 1024);
    let peak = before;
    const total = 256;
    for (let i = 0; i < total; i++) {
      await ws.sendBinary(chunk);
      if (i % 16 === 0) peak = Math.max(peak, rssKiB(vncws.pid));
    }
    while (target.received() < total * chunk.length) {
      await new Promise((r) => setTimeout(r, 50));
      peak = Math.max(peak, rssKiB(vncws.pid));
    }
    assert.equal(target.received(), total * chunk.length);
    // Without backpressure vncws would have to hold most of the 256 MiB.
    assert.ok(peak - before < 64 * 1024, `RSS grew by ${peak - before} KiB`);
    ws.close();
  },
});

Deno.test({
  name: "real VNC server (Xtigervnc): WebSocket and raw TCP clients read ServerInit",
  ignore: skipUnless("Xtigervnc", "apt-get install tigervnc-standalone-server"),
  ...opts,
  async fn() {
    const xvnc = await startXtigervnc({ geometry: "320x240" });
    const rfbPort = xvnc.rfbPort;
    const port = freePort();
    let vncws;
    try {
      vncws = await startVncws([String(port), `127.0.0.1:${rfbPort}`]);
      // Over WebSocket.
      const ws = await wsConnect(port);
      assert.equal(dec.decode(await ws.readBytes(12)), "RFB 003.008\n");
      await ws.sendBinary("RFB 003.008\n");
      const sec = await ws.readBytes(2); // count, type None(1)
      assert.equal(sec[0], 1);
      assert.equal(sec[1], 1);
      await ws.sendBinary(new Uint8Array([1]));
      assert.deepEqual(await ws.readBytes(4), new Uint8Array([0, 0, 0, 0])); // SecurityResult OK
      await ws.sendBinary(new Uint8Array([1])); // ClientInit shared
      const init = await ws.readBytes(24);
      const view = new DataView(init.buffer);
      assert.equal(view.getUint16(0), 320);
      assert.equal(view.getUint16(2), 240);
      ws.close();
      // Raw TCP on the same port.
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      assert.equal(dec.decode(await readExactly(c, 12)), "RFB 003.008\n");
      await c.write(enc.encode("RFB 003.008\n"));
      assert.deepEqual(await readExactly(c, 2), new Uint8Array([1, 1]));
      await c.write(new Uint8Array([1]));
      assert.deepEqual(await readExactly(c, 4), new Uint8Array([0, 0, 0, 0]));
      await c.write(new Uint8Array([1]));
      const init2 = await readExactly(c, 24);
      assert.equal(new DataView(init2.buffer).getUint16(0), 320);
      c.close();
    } finally {
      await vncws?.stop();
      await xvnc.stop();
    }
  },
});

Deno.test({
  name: "an HTTP client slower than --raw-wait is relayed raw, with a warning naming the fix",
  ...opts,
  async fn() {
    await using p = await startProxy(["--raw-wait", "0.3"]);
    const { port, vncws } = p;
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    assert.equal(dec.decode(await readExactly(c, 12)), "RFB 003.008\n");
    await c.write(enc.encode("GET /websockify HTTP/1.1\r\nHost: x\r\n\r\n"));
    await vncws.waitFor(/an HTTP client was relayed raw .*raise --raw-wait/);
    c.close();
  },
});
