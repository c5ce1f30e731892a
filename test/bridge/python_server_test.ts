/**
 * The bridge against a WebSocket server nobody here wrote: Python
 * `websockets` (Debian python3-websockets) requiring the `vmware-vvc`
 * subprotocol and an `X-Ticket` header, in plain and over TLS with
 * self-signed and CA-signed certificates (made with openssl).
 */
import assert from "node:assert/strict";
import {
  freePort,
  readExactly,
  readToEof,
  skipUnless,
  skipUnlessPython,
  startProcess,
  writeAll,
} from "../../scripts/testing/util.ts";
import { randomBytes } from "../../scripts/testing/ws_client.ts";
import { makeCerts, type TestCerts } from "../../scripts/testing/certs.ts";
import { startBridge } from "./_helpers.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const PY = "/usr/bin/python3";
const enc = new TextEncoder();
const dec = new TextDecoder();

// websockets 10.x legacy server API (Debian bookworm ships 10.4).
const SERVER = `
import asyncio, ssl, sys
from http import HTTPStatus
from websockets.server import serve

async def process_request(path, headers):
    if headers.get("X-Ticket") != "t":
        return (HTTPStatus.FORBIDDEN, [("Content-Type", "text/plain")], b"missing X-Ticket header\\n")
    offered = [p.strip() for p in headers.get("Sec-WebSocket-Protocol", "").split(",")]
    if "vmware-vvc" not in offered:
        return (HTTPStatus.BAD_REQUEST, [("Content-Type", "text/plain")], b"subprotocol vmware-vvc required\\n")
    return None

async def handler(ws, path=None):
    # A text message first: the bridge passes its bytes on like binary ones.
    await ws.send("proto=%s\\n" % ws.subprotocol)
    async for msg in ws:
        await ws.send(msg)

async def main():
    ctx = None
    if len(sys.argv) > 2:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[1], sys.argv[2])
        if len(sys.argv) > 3:  # client certificates required, issued by this CA
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(sys.argv[3])
    # Fast keepalive pings: a bridge that did not answer them would be closed (1011).
    async with serve(handler, "127.0.0.1", 0, subprotocols=["vmware-vvc"],
                     process_request=process_request, ssl=ctx, ping_interval=0.3,
                     ping_timeout=0.6, max_size=None) as server:
        print("port", server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()

asyncio.run(main())
`;

const skip = skipUnless("openssl", "apt-get install openssl") ||
  skipUnlessPython("websockets", "apt-get install python3-websockets");

async function startPyServer(
  dir: string,
  tls?: { cert: string; key: string; clientCa?: string },
) {
  const script = `${dir}/ws_server.py`;
  await Deno.writeTextFile(script, SERVER);
  const p = startProcess(PY, [
    script,
    ...(tls ? [tls.cert, tls.key] : []),
    ...(tls?.clientCa ? [tls.clientCa] : []),
  ]);
  const out = await p.waitFor(/port \d+/, 15000);
  return { proc: p, port: Number(/port (\d+)/.exec(out)![1]) };
}

/** One session through a bridge started with `args` + `--once`; checks echo and pongs. */
async function workingSession(url: string, args: string[]): Promise<void> {
  const port = freePort();
  const bridge = await startBridge([
    String(port),
    url,
    "--once",
    "--protocol",
    "binary, vmware-vvc",
    "-H",
    "X-Ticket: t",
    ...args,
  ]);
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    assert.equal(dec.decode(await readExactly(c, 17)), "proto=vmware-vvc\n");
    const data = randomBytes(300_000);
    const [, echoed] = await Promise.all([writeAll(c, data), readExactly(c, data.length)]);
    assert.deepEqual(echoed, data);
    // Outlive a few server pings: only answered pings keep the session open.
    await new Promise((r) => setTimeout(r, 1500));
    await writeAll(c, enc.encode("still there"));
    assert.equal(dec.decode(await readExactly(c, 11)), "still there");
    await c.closeWrite();
    assert.equal((await readToEof(c)).length, 0);
    c.close();
    assert.equal((await bridge.status).code, 0, bridge.output());
    assert.match(bridge.output(), /session end .*up=300011 down=300028 .*code=1000/);
  } finally {
    await bridge.stop();
  }
}

/** A session that must fail; returns the bridge's output. */
async function failingSession(url: string, args: string[]): Promise<string> {
  const port = freePort();
  const bridge = await startBridge([String(port), url, "--once", ...args]);
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    assert.equal((await readToEof(c)).length, 0);
    c.close();
    assert.equal((await bridge.status).code, 1, bridge.output());
    return bridge.output();
  } finally {
    await bridge.stop();
  }
}

Deno.test({
  name: "bridge → python websockets: subprotocol and header required, echo, pongs",
  ignore: skip,
  ...opts,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vncws-bridge-py-" });
    const server = await startPyServer(dir);
    const url = `ws://127.0.0.1:${server.port}/ticket/abc`;
    try {
      await workingSession(url, []);
      const noHeader = await failingSession(url, ["--protocol", "binary, vmware-vvc"]);
      assert.match(noHeader, /HTTP 403 Forbidden.*missing X-Ticket header/);
      const wrongProto = await failingSession(url, ["--protocol", "binary", "-H", "X-Ticket: t"]);
      assert.match(wrongProto, /HTTP 400 Bad Request.*subprotocol vmware-vvc required/);
    } finally {
      await server.proc.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "bridge → python websockets over TLS: self-signed and CA-signed certificates",
  ignore: skip,
  ...opts,
  async fn(t) {
    const certs: TestCerts = await makeCerts();
    const self = await startPyServer(certs.dir, { cert: certs.selfCert, key: certs.selfKey });
    const leaf = await startPyServer(certs.dir, { cert: certs.serverCert, key: certs.serverKey });
    const mtls = await startPyServer(certs.dir, {
      cert: certs.serverCert,
      key: certs.serverKey,
      clientCa: certs.ca,
    });
    const need = ["--protocol", "binary, vmware-vvc", "-H", "X-Ticket: t"];
    const selfUrl = `wss://127.0.0.1:${self.port}/ticket/abc`;
    const leafUrl = `wss://localhost:${leaf.port}/ticket/abc`;
    try {
      await t.step("self-signed: refused without -k or --ca, with the reason", async () => {
        const out = await failingSession(selfUrl, need);
        assert.match(out, /self-signed and not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\)/);
        assert.match(out, /--ca FILE.*-k\/--insecure/);
      });
      await t.step("self-signed: works with -k", () => workingSession(selfUrl, ["-k"]));
      await t.step(
        "self-signed: works with --ca",
        () => workingSession(selfUrl, ["--ca", certs.selfCert]),
      );
      await t.step("CA-signed: unknown CA without --ca", async () => {
        const out = await failingSession(leafUrl, need);
        assert.match(out, /unknown certificate authority/);
      });
      await t.step(
        "CA-signed: works with --ca",
        () => workingSession(leafUrl, ["--ca", certs.ca]),
      );
      await t.step("CA-signed: hostname mismatch named as such", async () => {
        const out = await failingSession(leafUrl, [
          ...need,
          "--ca",
          certs.ca,
          "--sni",
          "vc.example",
        ]);
        assert.match(out, /hostname mismatch: the certificate is not valid for \\"vc.example\\"/);
      });
      const mtlsUrl = `wss://localhost:${mtls.port}/ticket/abc`;
      await t.step("client certificate required: refused without --cert", async () => {
        const out = await failingSession(mtlsUrl, [...need, "--ca", certs.ca]);
        assert.match(out, /wants a client certificate: --cert FILE --key FILE/);
      });
      await t.step(
        "client certificate required: works with --cert and --key",
        () =>
          workingSession(mtlsUrl, [
            "--ca",
            certs.ca,
            "--cert",
            certs.aliceCert,
            "--key",
            certs.aliceKey,
          ]),
      );
      await t.step("plain ws:// to a TLS port fails cleanly", async () => {
        const out = await failingSession(`ws://127.0.0.1:${self.port}/`, [
          ...need,
          "--connect-timeout",
          "3",
        ]);
        assert.match(out, /WebSocket failed/);
      });
    } finally {
      await self.proc.stop();
      await leaf.proc.stop();
      await mtls.proc.stop();
      await Deno.remove(certs.dir, { recursive: true });
    }
  },
});
