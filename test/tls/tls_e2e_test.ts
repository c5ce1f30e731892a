/**
 * TLS end to end: vncws as a real process with certificates made by
 * openssl, driven by npm ws, python websocket-client, node https and raw
 * sockets: wss and ws on one port, --ssl-only, mTLS with the CN reaching
 * the auth layer, https for the viewer, and --ssl-target to a TLS target.
 */
import assert from "node:assert/strict";
import https from "node:https";
import {
  freePort,
  readExactly,
  skipUnless,
  skipUnlessPython,
  startProcess,
  startVncws,
} from "../../scripts/testing/util.ts";
import { randomBytes, readResponse, wsConnect } from "../../scripts/testing/ws_client.ts";
import { startEchoTarget } from "../../scripts/testing/targets.ts";
import { certArgs, makeCerts, type TestCerts } from "../../scripts/testing/certs.ts";
import { wsEcho, wsOpen } from "../../scripts/testing/ws_npm.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const ignore = skipUnless("openssl", "apt-get install openssl");
const dec = new TextDecoder();

/** vncws with `args` before `PORT TARGET`, on a free port; `await using` stops it. */
async function startOn(target: string, args: string[]) {
  const port = freePort();
  const v = await startVncws([...args, String(port), target]);
  return {
    port,
    v,
    async [Symbol.asyncDispose]() {
      await v.stop();
    },
  };
}

/** Runs a python websocket-client script; resolves its output. */
async function python(script: string): Promise<string> {
  const py = startProcess("/usr/bin/python3", ["-c", script]);
  await py.status;
  return py.output();
}

function pyClient(port: number, sslopt: string): string {
  return `
import ssl, websocket
try:
    ws = websocket.create_connection("wss://127.0.0.1:${port}/websockify", sslopt=${sslopt}, timeout=10)
    assert ws.recv() == b"RFB 003.008\\n"
    ws.send_binary(bytes(range(256)) * 100)
    got = b""
    while len(got) < 25600: got += ws.recv()
    assert got == bytes(range(256)) * 100
    ws.close()
    print("PY-OK")
except ssl.SSLError as e:
    print("PY-SSL-ERROR", e)
except Exception as e:
    print("PY-ERROR", type(e).__name__, e)
`;
}

let certs: TestCerts;

Deno.test({
  name: "TLS end to end",
  ignore: ignore || skipUnlessPython("websocket", "apt-get install python3-websocket"),
  ...opts,
  async fn(t) {
    certs = await makeCerts();
    const ca = await Deno.readTextFile(certs.ca);
    const read = (p: string) => Deno.readTextFileSync(p);
    const target = startEchoTarget();
    const to = `127.0.0.1:${target.port}`;
    try {
      await t.step("wss and ws share the port; https serves the viewer", async () => {
        await using s = await startOn(to, [
          "-v",
          ...certArgs(certs),
        ]);
        const { port, v } = s;
        const a = await wsOpen(`wss://127.0.0.1:${port}/websockify`, { ca });
        assert.equal(a.banner, "RFB 003.008\n");
        const data = randomBytes(200_000);
        assert.deepEqual(await wsEcho(a.ws, data), data);
        a.ws.close();

        const b = await wsOpen(`wss://localhost:${port}/websockify`, {
          rejectUnauthorized: false,
        });
        assert.equal(b.banner, "RFB 003.008\n");
        b.ws.close();

        // A verifying client without the CA refuses the server.
        await assert.rejects(wsOpen(`wss://127.0.0.1:${port}/websockify`), /certificate/i);
        await v.waitFor(/refused .*TLS handshake failed/);
        // A client asking for a name the certificate lacks (SNI) is named in the log.
        await assert.rejects(
          wsOpen(`wss://127.0.0.1:${port}/websockify`, { ca, servername: "wrong.example" }),
        );
        await v.waitFor(/certificate lacks .*sni=wrong\.example/);

        const plain = await wsConnect(port);
        assert.equal(plain.response.status, 101);
        assert.equal(dec.decode(await plain.readBytes(12)), "RFB 003.008\n");
        plain.close();

        const page = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          https.get(`https://127.0.0.1:${port}/vnc.html`, { ca }, (res) => {
            let body = "";
            res.on("data", (d) => body += d);
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          }).on("error", reject);
        });
        assert.equal(page.status, 200);
        assert.match(page.body, /<html/i);

        const py = await python(pyClient(port, `{"cert_reqs": ssl.CERT_NONE}`));
        assert.match(py, /PY-OK/, py);
      });

      await t.step(
        "self-signed + --ssl-only: python with verification off works, verifying python refuses, plain refused",
        async () => {
          await using s = await startOn(to, [
            "--cert",
            certs.selfCert,
            "--key",
            certs.selfKey,
            "--ssl-only",
          ]);
          const { port, v } = s;
          const ok = await python(pyClient(port, `{"cert_reqs": ssl.CERT_NONE}`));
          assert.match(ok, /PY-OK/, ok);
          const verifying = await python(pyClient(port, `{}`));
          assert.match(verifying, /PY-SSL-ERROR .*CERTIFICATE_VERIFY_FAILED/, verifying);

          const raw = await Deno.connect({ hostname: "127.0.0.1", port });
          await raw.write(
            new TextEncoder().encode("GET /websockify HTTP/1.1\r\nHost: x\r\n\r\n"),
          );
          assert.equal((await readResponse(raw)).status, 0, "closed without an answer");
          raw.close();
          await v.waitFor(/plain connection refused .*--ssl-only/);

          // A silent (native VNC) client is never relayed raw around --ssl-only.
          const silent = await Deno.connect({ hostname: "127.0.0.1", port });
          const got = await Promise.race([
            silent.read(new Uint8Array(64)),
            new Promise((r) => setTimeout(() => r("nothing"), 2000)),
          ]);
          assert.equal(got, "nothing", "a silent plain client was relayed to the target");
          silent.close();
        },
      );

      await t.step(
        "mTLS: alice's certificate passes and her CN reaches ClientCertCNAuth; no cert and an untrusted cert are refused",
        async () => {
          await using s = await startOn(to, [
            "-v",
            ...certArgs(certs),
            "--verify-client",
            "--cafile",
            certs.ca,
            "--auth-plugin",
            "ClientCertCNAuth",
            "--auth-source",
            "alice",
          ]);
          const { port, v } = s;
          const url = `wss://127.0.0.1:${port}/websockify`;
          const alice = await wsOpen(url, {
            ca,
            cert: read(certs.aliceCert),
            key: read(certs.aliceKey),
          });
          assert.equal(alice.banner, "RFB 003.008\n");
          alice.ws.close();
          await v.waitFor(/TLS established .*cn=alice/);

          await assert.rejects(wsOpen(url, { ca }));
          await v.waitFor(/TLS handshake failed: no client certificate/);

          await assert.rejects(
            wsOpen(url, { ca, cert: read(certs.selfCert), key: read(certs.selfKey) }),
          );
          await v.waitFor(/TLS handshake failed: client certificate CN=mallory not trusted/);

          // Plain clients have no certificate: the auth layer refuses them.
          const plain = await wsConnect(port);
          assert.equal(plain.response.status, 403);
          plain.close();
        },
      );

      await t.step(
        "--ssl-target: verified with --target-ca, 502 without, insecure on request",
        async () => {
          const tlsTarget = startEchoTarget({
            banner: "TLS-TARGET\n",
            tls: { cert: read(certs.serverCert), key: read(certs.serverKey) },
          });
          const tport = tlsTarget.port;
          const run = (extra: string[]) =>
            startOn(`127.0.0.1:${tport}`, ["--ssl-target", ...extra]);
          try {
            {
              // vncws stops at the end of this block.
              await using verified = await run(["--target-ca", certs.ca]);
              const s = await wsOpen(`ws://127.0.0.1:${verified.port}/websockify`);
              assert.equal(s.banner, "TLS-TARGET\n");
              const data = randomBytes(100_000);
              assert.deepEqual(await wsEcho(s.ws, data), data);
              s.ws.close();
            }

            {
              await using unverified = await run([]);
              const c = await wsConnect(unverified.port);
              assert.equal(c.response.status, 502);
              c.close();
              await unverified.v.waitFor(/502.*not signed by a trusted CA.*--target-ca/);
            }

            {
              await using insecure = await run(["--ssl-target-insecure"]);
              assert.match(
                insecure.v.output(),
                /--ssl-target-insecure: the target's TLS certificate is NOT verified/,
              );
              const s = await wsOpen(`ws://127.0.0.1:${insecure.port}/websockify`);
              assert.equal(s.banner, "TLS-TARGET\n");
              const data = randomBytes(100_000);
              assert.deepEqual(await wsEcho(s.ws, data), data);
              s.ws.close();
            }
          } finally {
            await tlsTarget.close();
          }
        },
      );

      await t.step("a TLS client on a server without --cert is closed with a reason", async () => {
        await using s = await startOn(to, []);
        const { port, v } = s;
        const c = await Deno.connect({ hostname: "127.0.0.1", port });
        await c.write(new Uint8Array([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]));
        await assert.rejects(readExactly(c, 1));
        c.close();
        await v.waitFor(/TLS client refused .*--cert/);
      });
    } finally {
      await target.close();
      await certs.remove();
    }
  },
});
