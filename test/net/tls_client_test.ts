/**
 * createTlsConnector on its own: verified TLS to a Deno.listenTls target
 * with --target-ca, the reasons given when verification fails, the
 * insecure path, and the handshake timeout on both paths.
 */
import { startEchoTarget } from "../../scripts/testing/targets.ts";
import assert from "node:assert/strict";
import { skipUnless } from "../../scripts/testing/util.ts";
import { makeCerts } from "../../scripts/testing/certs.ts";
import { createTlsConnector } from "../../src/net/tls_client.ts";

const ignore = skipUnless("openssl", "apt-get install openssl");

async function greeting(s: { read(b: Uint8Array): Promise<number | null> }): Promise<string> {
  const buf = new Uint8Array(6);
  let got = 0;
  while (got < 6) {
    const n = await s.read(buf.subarray(got));
    if (n === null) break;
    got += n;
  }
  return new TextDecoder().decode(buf.subarray(0, got));
}

Deno.test({
  name: "createTlsConnector: verified, refused with reasons, insecure, timeouts",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const certs = await makeCerts();
    const read = (p: string) => Deno.readTextFileSync(p);
    const good = startEchoTarget({
      banner: "hello\n",
      tls: { cert: read(certs.serverCert), key: read(certs.serverKey) },
    });
    const self = startEchoTarget({
      banner: "hello\n",
      tls: { cert: read(certs.selfCert), key: read(certs.selfKey) },
    });
    const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const silentPort = (silent.addr as Deno.NetAddr).port;
    const held: Deno.Conn[] = [];
    (async () => {
      for await (const c of silent) held.push(c);
    })().catch(() => {});
    const tcp = (port: number) => Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await t.step("verified with --target-ca; echo works both ways", async () => {
        const connect = await createTlsConnector({ enabled: true, ca: certs.ca, insecure: false });
        const s = await connect(await tcp(good.port), "127.0.0.1");
        assert.equal(await greeting(s), "hello\n");
        await s.writeAll(new TextEncoder().encode("ping!\n"));
        assert.equal(await greeting(s), "ping!\n");
        s.close();
      });

      await t.step("without the CA: refused, and the message says to use --target-ca", async () => {
        const connect = await createTlsConnector({ enabled: true, insecure: false });
        await assert.rejects(
          connect(await tcp(good.port), "127.0.0.1"),
          /not signed by a trusted CA .*add its CA with --target-ca FILE/,
        );
      });

      await t.step("a name the certificate lacks is refused with the name", async () => {
        const connect = await createTlsConnector({ enabled: true, ca: certs.ca, insecure: false });
        await assert.rejects(
          connect(await tcp(good.port), "wrong.example"),
          /not valid for "wrong\.example"/,
        );
      });

      await t.step("--ssl-target-insecure accepts a self-signed target", async () => {
        const connect = await createTlsConnector({ enabled: true, insecure: true });
        const s = await connect(await tcp(self.port), "127.0.0.1");
        assert.equal(await greeting(s), "hello\n");
        await s.writeAll(new TextEncoder().encode("ping!\n"));
        assert.equal(await greeting(s), "ping!\n");
        s.close();
      });

      await t.step("a target that never answers the handshake times out (both paths)", async () => {
        for (const insecure of [false, true]) {
          const connect = await createTlsConnector(
            { enabled: true, insecure },
            { handshakeTimeoutMs: 300 },
          );
          await assert.rejects(
            connect(await tcp(silentPort), "127.0.0.1"),
            /not complete within 0\.3s/,
          );
        }
      });

      await t.step("a missing --target-ca file stops the start with its name", async () => {
        await assert.rejects(
          createTlsConnector({ enabled: true, ca: `${certs.dir}/nope.pem`, insecure: false }),
          /--target-ca .*nope\.pem: cannot read it/,
        );
      });
    } finally {
      await good.close();
      await self.close();
      silent.close();
      for (const c of held) c.close();
      await certs.remove();
    }
  },
});
