import assert from "node:assert/strict";
import { parseEndpoint, proxyHeader } from "../../src/net/proxy_protocol.ts";
import { freePort, readExactly, startVncws } from "../../scripts/testing/util.ts";
import { wsConnect } from "../../scripts/testing/ws_client.ts";

const dec = new TextDecoder();

Deno.test("PROXY v1 and v2 headers for IPv4, IPv6, mapped and unknown addresses", () => {
  assert.equal(
    dec.decode(
      proxyHeader(1, { ip: "192.0.2.1", port: 5000 }, { ip: "::ffff:10.0.0.1", port: 6080 }),
    ),
    "PROXY TCP4 192.0.2.1 10.0.0.1 5000 6080\r\n",
  );
  assert.equal(
    dec.decode(proxyHeader(1, { ip: "2001:db8::1", port: 1 }, { ip: "::1", port: 2 })),
    "PROXY TCP6 2001:db8::1 ::1 1 2\r\n",
  );
  assert.equal(dec.decode(proxyHeader(1, undefined, undefined)), "PROXY UNKNOWN\r\n");
  const v2 = proxyHeader(2, { ip: "192.0.2.1", port: 0x1234 }, { ip: "10.0.0.1", port: 6080 });
  assert.deepEqual([...v2.subarray(0, 12)], [13, 10, 13, 10, 0, 13, 10, 81, 85, 73, 84, 10]);
  assert.deepEqual([...v2.subarray(12)], [
    0x21,
    0x11,
    0,
    12,
    192,
    0,
    2,
    1,
    10,
    0,
    0,
    1,
    0x12,
    0x34,
    0x17,
    0xc0,
  ]);
  const v6 = proxyHeader(2, { ip: "::1", port: 1 }, { ip: "::1", port: 2 });
  assert.equal(v6.length, 16 + 36);
  assert.equal(v6[13], 0x21);
  const local = proxyHeader(2, undefined, undefined);
  assert.deepEqual([...local.subarray(12)], [0x20, 0x00, 0, 0]);
  assert.deepEqual(parseEndpoint("[::1]:80"), { ip: "::1", port: 80 });
  assert.deepEqual(parseEndpoint("1.2.3.4:5"), { ip: "1.2.3.4", port: 5 });
  assert.equal(parseEndpoint("unix"), undefined);
});

Deno.test({
  name: "--proxy-protocol v1: the target reads the client's address before the session bytes",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const seen = (async () => {
      const conn = await listener.accept();
      const buf = new Uint8Array(256);
      let text = "";
      while (!text.includes("\r\n")) {
        const n = await conn.read(buf);
        if (n === null) break;
        text += dec.decode(buf.subarray(0, n));
      }
      await conn.write(new TextEncoder().encode("RFB 003.008\n"));
      return { conn, text };
    })();
    const port = freePort();
    const vncws = await startVncws([
      String(port),
      `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
      "--proxy-protocol",
      "v1",
    ]);
    try {
      const ws = await wsConnect(port);
      assert.equal(ws.response.status, 101);
      const localPort = (ws.conn.localAddr as Deno.NetAddr).port;
      assert.equal(dec.decode(await ws.readBytes(12)), "RFB 003.008\n");
      const { conn, text } = await seen;
      assert.equal(text, `PROXY TCP4 127.0.0.1 127.0.0.1 ${localPort} ${port}\r\n`);
      await ws.sendBinary("x");
      assert.equal(dec.decode(await readExactly(conn, 1)), "x");
      conn.close();
      ws.close();
    } finally {
      await vncws.stop();
      listener.close();
    }
  },
});
