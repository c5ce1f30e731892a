/**
 * The bridge's client handshake against a scripted server: what it sends,
 * and the errors a person sees when the server refuses (status and body,
 * unoffered subprotocol, bad accept key). The bridge runs as a real process.
 */
import assert from "node:assert/strict";
import { Opcode } from "../../src/ws/frame.ts";
import { freePort, readToEof, writeAll } from "../../scripts/testing/util.ts";
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

function respond(status: string, body: string): string {
  return `HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n` +
    `Connection: close\r\n\r\n${body}`;
}

Deno.test({
  name: "bridge: request headers, refusals with status and body, subprotocol and accept checks",
  ...opts,
  async fn() {
    const longBody = "x".repeat(490) + "TAIL-NOT-SHOWN" + "y".repeat(1500);
    // One behaviour per connection, in order.
    const server = startScriptedServer(async (conn, head, i) => {
      switch (i) {
        case 0: { // accepted: echo one message, then close
          await accept101(conn, head, "vmware-vvc");
          const frames = new ServerFrames(conn);
          const ev = await frames.next();
          await frames.sendBinary(ev!.bytes!);
          await frames.send(Opcode.Close, new Uint8Array([3, 232]));
          await frames.next(); // the bridge's close reply
          return;
        }
        case 1:
          await writeAll(conn, enc.encode(respond("403 Forbidden", "ticket expired or unknown\n")));
          return;
        case 2:
          await writeAll(conn, enc.encode(respond("404 Not Found", longBody)));
          return;
        case 3:
          await accept101(conn, head, "evil");
          return;
        case 4: {
          const bad = head.replace(/sec-websocket-key:\s*\S+/i, "Sec-WebSocket-Key: AAAA");
          await accept101(conn, bad, "binary");
          return;
        }
        case 5:
          await accept101(conn, head); // no subprotocol although two were offered
          return;
        case 6: // chunked body, connection left open
          await writeAll(
            conn,
            enc.encode(
              "HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n" +
                "6\r\nticket\r\n9\r\n invalid\n\r\n0\r\n\r\n",
            ),
          );
          await readToEof(conn);
          return;
        case 7:
          await writeAll(
            conn,
            enc.encode(
              "HTTP/1.1 302 Found\r\nLocation: https://sso.example/login?next=x\r\n" +
                "Content-Length: 0\r\n\r\n",
            ),
          );
          return;
      }
    });
    const port = freePort();
    const bridge = await startBridge([
      "--protocol",
      "binary,  vmware-vvc",
      String(port),
      `ws://user:s3cret@127.0.0.1:${server.port}/ticket/abc?x=1`,
      "-H",
      "X-Ticket: t",
      "-H",
      "User-Agent: custom-agent/1",
      "--origin",
      "https://console.example",
      "--cookie",
      "a=1",
      "--cookie",
      "vmware_soap_session=zz",
    ]);
    try {
      // 0: a working session, and the request as the server saw it.
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      await writeAll(c, enc.encode("hello"));
      assert.equal(dec.decode(await readToEof(c)), "hello");
      c.close();
      const req = server.requests[0];
      assert.match(req, /^GET \/ticket\/abc\?x=1 HTTP\/1\.1\r\n/);
      assert.match(req, new RegExp(`\\r\\nHost: 127\\.0\\.0\\.1:${server.port}\\r\\n`));
      assert.match(req, /\r\nSec-WebSocket-Protocol: binary, {2}vmware-vvc\r\n/); // exactly as given
      assert.match(req, /\r\nSec-WebSocket-Version: 13\r\n/);
      assert.match(req, /\r\nSec-WebSocket-Key: [A-Za-z0-9+/]{22}==\r\n/);
      assert.match(req, /\r\nX-Ticket: t\r\n/);
      assert.match(req, /\r\nUser-Agent: custom-agent\/1(\r\n|$)/);
      assert.equal(req.match(/User-Agent/gi)?.length, 1);
      assert.match(req, /\r\nOrigin: https:\/\/console\.example\r\n/);
      assert.match(req, /\r\nCookie: a=1; vmware_soap_session=zz\r\n/);
      assert.match(req, new RegExp(`\\r\\nAuthorization: Basic ${btoa("user:s3cret")}\\r\\n`));
      await waitForCount(bridge, /session end/, 1);
      assert.match(bridge.output(), /session end .*up=5 down=5 .*code=1000/);

      // 1..5: each refused one way; the local connection is closed each time.
      for (let i = 1; i <= 7; i++) {
        const c2 = await Deno.connect({ hostname: "127.0.0.1", port });
        assert.equal((await readToEof(c2)).length, 0);
        c2.close();
        await waitForCount(bridge, /WebSocket failed/, i);
      }
      const out = bridge.output();
      assert.match(out, /HTTP 403 Forbidden.*ticket expired or unknown/);
      assert.match(out, /HTTP 404 Not Found.*x{490}TAIL-NOT-S…/); // body cut at 500 bytes
      assert.doesNotMatch(out, /TAIL-NOT-SH/);
      assert.match(out, /chose the subprotocol \\"evil\\", which was not offered/);
      assert.match(out, /wrong Sec-WebSocket-Accept/);
      assert.match(out, /accepted none of the offered subprotocols \(binary, vmware-vvc\)/);
      assert.match(out, /HTTP 401 Unauthorized \(check the credentials.*\): ticket invalid"/);
      assert.match(out, /HTTP 302 Found \(redirected to https:\/\/sso\.example\/login\?…;/);
      // Credentials never appear in logs; the query string is elided.
      assert.doesNotMatch(out, /s3cret/);
      assert.doesNotMatch(out, new RegExp(btoa("user:s3cret")));
      assert.doesNotMatch(out, /x=1/);
    } finally {
      await bridge.stop();
      await server.close();
    }
  },
});

Deno.test({
  name: "bridge --once: a refused handshake exits 1 with the status and body on stderr",
  ...opts,
  async fn() {
    const server = startScriptedServer(async (conn) => {
      await writeAll(conn, enc.encode(respond("403 Forbidden", "no such ticket")));
    });
    const port = freePort();
    const bridge = await startBridge([
      String(port),
      `ws://127.0.0.1:${server.port}/ticket/X`,
      "--once",
    ], { env: { VNCWS_BRIDGE_AUTH: "envuser:envpass" } });
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      await readToEof(c);
      c.close();
      const status = await bridge.status;
      assert.equal(status.code, 1);
      assert.match(bridge.output(), /HTTP 403 Forbidden.*no such ticket/);
      assert.match(
        server.requests[0],
        new RegExp(`Authorization: Basic ${btoa("envuser:envpass")}`),
      );
      assert.doesNotMatch(bridge.output(), /envpass/);
    } finally {
      await bridge.stop();
      await server.close();
    }
  },
});

Deno.test({
  name: "bridge usage errors exit 2 and say how to fix them",
  ...opts,
  async fn() {
    const cases: Array<[string[], RegExp]> = [
      [["5900"], /no WebSocket URL/],
      [["ws://h/"], /no listen port/],
      [["5900", "http://h/"], /needs ws:\/\/ instead/],
      [["5900", "ws://h/", "-H", "nocolon"], /-H "Name: value"/],
      [["5900", "ws://h/", "-k"], /only apply to wss:\/\//],
      [["5900", "wss://h/", "--cert", "c.pem"], /--cert and --key go together/],
      [["5900", "ws://h/", "--ping-timeout", "5"], /needs --ping-interval/],
      [["5900", "ws://h/", "--basic-auth", "hunter2"], /user:password/],
      [["5900", "wss://h/", "--ca", "/nonexistent/ca.pem"], /cannot read --ca/],
    ];
    for (const [args, pattern] of cases) {
      const p = startBridgeProcess(args);
      const status = await p.status;
      assert.equal(status.code, 2, `${args.join(" ")}: ${p.output()}`);
      assert.match(p.output(), pattern);
      assert.match(p.output(), /vncws bridge --help/);
      assert.doesNotMatch(p.output(), /hunter2/);
    }
    const help = startBridgeProcess(["--help"]);
    assert.equal((await help.status).code, 0);
    assert.match(help.output(), /--url-command CMD/);
  },
});
