/**
 * Certificates that renew themselves, and several of them, end to end: the
 * real vncws with certificates made by openssl, `openssl s_client` reading
 * the certificate served, npm ws holding a wss session across the change,
 * and the metrics endpoint. Renewal as certbot does it (new files renamed
 * into place; symlinks in live/ re-pointed), as cert-manager does it (the
 * `..data` symlink swapped to a new directory, here with --ssl-only), a key
 * that does not match (the old pair stays, one error line), SIGHUP, and SNI
 * over --cert pairs and a --cert-dir.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { freePort, skipUnless, startVncws, waitUntil } from "../../scripts/testing/util.ts";

/** Certificate files are polled every 2 s: waits of up to 20 s. */
const until = (f: () => Promise<boolean>, what: string) => waitUntil(f, what, 20_000, 200);
import { startEchoTarget } from "../../scripts/testing/targets.ts";
import { makeCerts, makeLeaf, type TestCerts } from "../../scripts/testing/certs.ts";
import { wsEcho, wsOpen } from "../../scripts/testing/ws_npm.ts";
import { randomBytes } from "../../scripts/testing/ws_client.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const ignore = skipUnless("openssl", "apt-get install openssl");

/** What the server presented to `openssl s_client` (with this SNI name, or none). */
interface Served {
  cn: string;
  serial: string;
}

async function served(port: number, servername?: string): Promise<Served> {
  const out = await new Deno.Command("openssl", {
    args: [
      "s_client",
      "-connect",
      `127.0.0.1:${port}`,
      ...servername ? ["-servername", servername] : ["-noservername"],
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
  if (!pem) throw new Error(`s_client got no certificate:\n${text}`);
  const x = new X509Certificate(pem);
  return { cn: /CN=([^\n]+)/.exec(x.subject)![1], serial: x.serialNumber };
}

function serialOf(path: string): string {
  return new X509Certificate(Deno.readTextFileSync(path)).serialNumber;
}

function notAfterOf(path: string): number {
  return new Date(new X509Certificate(Deno.readTextFileSync(path)).validTo).getTime() / 1000;
}

/** `vncws_tls_cert_not_after_seconds` by name label, from the metrics endpoint. */
async function expiryMetric(port: number): Promise<Map<string, { file: string; value: number }>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out = new Map<string, { file: string; value: number }>();
  const re = /^vncws_tls_cert_not_after_seconds\{name="([^"]*)",file="([^"]*)"\} (\S+)$/gm;
  for (const m of text.matchAll(re)) out.set(m[1], { file: m[2], value: Number(m[3]) });
  return out;
}

function count(text: string, pattern: RegExp): number {
  return text.match(new RegExp(pattern.source, "g"))?.length ?? 0;
}

let certs: TestCerts;

Deno.test({
  name: "certificate renewal on disk, SIGHUP, SNI and the expiry metric, end to end",
  ignore,
  ...opts,
  async fn(t) {
    certs = await makeCerts();
    const c = certs;
    const ca = await Deno.readTextFile(c.ca);
    const target = startEchoTarget();
    const to = `127.0.0.1:${target.port}`;
    try {
      await t.step(
        "certbot-style rename into place: new handshakes get it, the open session goes on; " +
          "a key that does not match keeps it, logged once; the metric follows",
        async () => {
          const cert = `${c.dir}/live.pem`;
          const key = `${c.dir}/live.key`;
          Deno.copyFileSync(c.serverCert, cert);
          Deno.copyFileSync(c.serverKey, key);
          const renewed = await makeLeaf(c, "renewed", ["localhost"], { days: 5 });
          const port = freePort();
          const mport = freePort();
          const v = await startVncws([
            "--cert",
            cert,
            "--key",
            key,
            "--metrics",
            String(mport),
            String(port),
            to,
          ]);
          try {
            assert.equal((await served(port, "localhost")).serial, serialOf(c.serverCert));
            assert.deepEqual((await expiryMetric(mport)).get("localhost"), {
              file: cert,
              value: notAfterOf(c.serverCert),
            });
            const session = await wsOpen(`wss://127.0.0.1:${port}/websockify`, { ca });
            assert.equal(session.banner, "RFB 003.008\n");

            Deno.copyFileSync(renewed.key, `${key}.new`);
            Deno.copyFileSync(renewed.cert, `${cert}.new`);
            Deno.renameSync(`${key}.new`, key);
            Deno.renameSync(`${cert}.new`, cert);
            const want = serialOf(renewed.cert);
            await until(
              async () => (await served(port, "localhost")).serial === want,
              "the renewed certificate",
            );
            await v.waitFor("TLS certificates changed on disk: reloaded");
            const data = randomBytes(100_000);
            assert.deepEqual(await wsEcho(session.ws, data), data, "the open session stopped");
            assert.equal((await expiryMetric(mport)).get("localhost")?.value, notAfterOf(cert));
            assert.notEqual(notAfterOf(cert), notAfterOf(c.serverCert));

            // A key that is not the certificate's: the renewed pair stays in use.
            Deno.copyFileSync(c.serverKey, key);
            await v.waitFor(
              /ERROR +TLS certificate files changed but cannot be used.*does not belong/,
            );
            // Let a few more polls see the same bad files: still one line.
            await new Promise((r) => setTimeout(r, 5000));
            assert.equal(count(v.output(), /cannot be used/), 1, v.output());
            assert.equal((await served(port, "localhost")).serial, want);
            assert.deepEqual(await wsEcho(session.ws, data), data);
            session.ws.close();
          } finally {
            await v.stop();
          }
        },
      );

      await t.step(
        "--ssl-only: cert-manager's ..data swap is served, the open session goes on",
        async () => {
          const d = `${c.dir}/secret`;
          const first = `${d}/..2026_01_01`;
          const second = `${d}/..2026_02_01`;
          Deno.mkdirSync(first, { recursive: true });
          Deno.copyFileSync(c.serverCert, `${first}/tls.crt`);
          Deno.copyFileSync(c.serverKey, `${first}/tls.key`);
          Deno.symlinkSync("..2026_01_01", `${d}/..data`);
          Deno.symlinkSync("..data/tls.crt", `${d}/tls.crt`);
          Deno.symlinkSync("..data/tls.key", `${d}/tls.key`);
          const port = freePort();
          const v = await startVncws([
            "--cert",
            `${d}/tls.crt`,
            "--key",
            `${d}/tls.key`,
            "--ssl-only",
            String(port),
            to,
          ]);
          try {
            assert.equal((await served(port, "localhost")).serial, serialOf(c.serverCert));
            const session = await wsOpen(`wss://127.0.0.1:${port}/websockify`, { ca });
            Deno.mkdirSync(second);
            Deno.copyFileSync(c.server2Cert, `${second}/tls.crt`);
            Deno.copyFileSync(c.server2Key, `${second}/tls.key`);
            Deno.symlinkSync("..2026_02_01", `${d}/..data_tmp`);
            Deno.renameSync(`${d}/..data_tmp`, `${d}/..data`);
            await until(
              async () => (await served(port, "localhost")).cn === "localhost-2",
              "the swapped certificate",
            );
            const data = randomBytes(100_000);
            assert.deepEqual(await wsEcho(session.ws, data), data, "the open session stopped");
            session.ws.close();
            const fresh = await wsOpen(`wss://127.0.0.1:${port}/websockify`, { ca });
            assert.equal(fresh.banner, "RFB 003.008\n");
            fresh.ws.close();
          } finally {
            await v.stop();
          }
        },
      );

      await t.step("SIGHUP re-reads at once; a broken file on SIGHUP keeps the old", async () => {
        const cert = `${c.dir}/hup.pem`;
        const key = `${c.dir}/hup.key`;
        Deno.copyFileSync(c.serverCert, cert);
        Deno.copyFileSync(c.serverKey, key);
        const port = freePort();
        const v = await startVncws(["--cert", cert, "--key", key, String(port), to]);
        try {
          // A plain overwrite, then the signal.
          Deno.copyFileSync(c.server2Cert, cert);
          Deno.copyFileSync(c.server2Key, key);
          Deno.kill(v.pid, "SIGHUP");
          await v.waitFor("TLS certificates reloaded");
          assert.equal((await served(port, "localhost")).cn, "localhost-2");
          Deno.writeTextFileSync(key, "-----BEGIN PRIVATE KEY-----\nhalf-writ");
          Deno.kill(v.pid, "SIGHUP");
          await v.waitFor(/TLS reload failed; the old certificate stays in use/);
          assert.equal((await served(port, "localhost")).cn, "localhost-2");
        } finally {
          await v.stop();
        }
      });

      await t.step(
        "SNI over --cert pairs and a certbot --cert-dir: exact, wildcard, default; " +
          "a renewal and a new certificate in the directory are picked up; one metric each",
        async () => {
          const a = await makeLeaf(c, "a", ["a.example"]);
          const b1 = await makeLeaf(c, "b1", ["b.example"]);
          const b2 = await makeLeaf(c, "b2", ["b.example"]);
          const wild = await makeLeaf(c, "wild", ["*.wild.example"]);
          const live = `${c.dir}/le/live`;
          const archive = `${c.dir}/le/archive/b.example`;
          Deno.mkdirSync(`${live}/b.example`, { recursive: true });
          Deno.mkdirSync(archive, { recursive: true });
          Deno.copyFileSync(b1.cert, `${archive}/fullchain1.pem`);
          Deno.copyFileSync(b1.key, `${archive}/privkey1.pem`);
          const point = (n: number) => {
            for (const [link, file] of [["fullchain", "fullchain"], ["privkey", "privkey"]]) {
              const path = `${live}/b.example/${link}.pem`;
              Deno.symlinkSync(`../../archive/b.example/${file}${n}.pem`, `${path}.tmp`);
              Deno.renameSync(`${path}.tmp`, path);
            }
          };
          point(1);
          Deno.writeTextFileSync(`${live}/README`, "certbot's note");
          Deno.copyFileSync(wild.cert, `${live}/wild.pem`);
          Deno.copyFileSync(wild.key, `${live}/wild.key`);
          const port = freePort();
          const mport = freePort();
          const v = await startVncws([
            "--cert",
            c.serverCert,
            "--key",
            c.serverKey,
            "--cert",
            a.cert,
            "--key",
            a.key,
            "--cert-dir",
            live,
            "--metrics",
            String(mport),
            String(port),
            to,
          ]);
          try {
            assert.equal((await served(port, "a.example")).cn, "a.example");
            assert.equal((await served(port, "B.example")).serial, serialOf(b1.cert));
            assert.equal((await served(port, "desk.wild.example")).cn, "*.wild.example");
            assert.equal((await served(port, "a.b.wild.example")).cn, "localhost");
            assert.equal((await served(port, "unknown.example")).cn, "localhost");
            assert.equal((await served(port)).cn, "localhost");
            const metric = await expiryMetric(mport);
            assert.deepEqual([...metric.keys()].sort(), [
              "*.wild.example",
              "a.example",
              "b.example",
              "localhost",
            ]);
            assert.equal(metric.get("b.example")?.file, `${live}/b.example/fullchain.pem`);
            // A verifying wss client that names b.example gets b.example's certificate.
            const url = `wss://127.0.0.1:${port}/websockify`;
            const session = await wsOpen(url, { ca, servername: "b.example" });
            assert.equal(session.banner, "RFB 003.008\n");
            session.ws.close();
            // The same client naming a name no certificate has refuses the default one.
            await assert.rejects(wsOpen(url, { ca, servername: "nothing.example" }), /altnames/i);

            // certbot renews b.example: new archive files, live/ symlinks re-pointed.
            Deno.copyFileSync(b2.cert, `${archive}/fullchain2.pem`);
            Deno.copyFileSync(b2.key, `${archive}/privkey2.pem`);
            point(2);
            const want = serialOf(b2.cert);
            await until(
              async () => (await served(port, "b.example")).serial === want,
              "b.example's renewal",
            );
            assert.equal((await served(port, "a.example")).cn, "a.example");
            // A certificate added to the directory is served too.
            const added = await makeLeaf(c, "c", ["c.example"]);
            Deno.copyFileSync(added.key, `${live}/c.key`);
            Deno.copyFileSync(added.cert, `${live}/c.pem`);
            await until(
              async () => (await served(port, "c.example")).cn === "c.example",
              "the added certificate",
            );
            assert.ok((await expiryMetric(mport)).has("c.example"));
          } finally {
            await v.stop();
          }
        },
      );
    } finally {
      await target.close();
      await certs.remove();
    }
  },
});
