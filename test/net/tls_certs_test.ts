/**
 * The certificate set on its own: name matching and the SNI choice (exact
 * name, then wildcard, then the default), loading one pair (names, label,
 * expiry, a key that does not match), the `--cert-dir` layouts (NAME.pem +
 * NAME.key, certbot's live/, Kubernetes tls.crt), the order of the set and
 * the paths watched for renewal. Certificates are made by openssl.
 */
import assert from "node:assert/strict";
import { skipUnless, tempDir } from "../../scripts/testing/util.ts";
import { makeCerts, makeLeaf, type TestCerts } from "../../scripts/testing/certs.ts";
import {
  certFileList,
  loadCert,
  nameMatches,
  pickCert,
  readCertDir,
  watchedPaths,
} from "../../src/net/tls_certs.ts";

const ignore = skipUnless("openssl", "apt-get install openssl");

Deno.test("nameMatches: exact names, one-label wildcards, case", () => {
  const names = ["localhost", "*.example.com", "127.0.0.1"];
  assert.ok(nameMatches(names, "LOCALHOST"));
  assert.ok(nameMatches(names, "a.example.com"));
  assert.ok(!nameMatches(names, "a.b.example.com"));
  assert.ok(!nameMatches(names, "example.com"));
  assert.ok(nameMatches(names, "127.0.0.1"));
  assert.ok(!nameMatches(names, "wrong.example"));
});

Deno.test("pickCert: an exact name wins over an earlier wildcard; unknown or no name gets the first", () => {
  const def = { id: "default", names: ["localhost"] };
  const wild = { id: "wild", names: ["*.example.com"] };
  const exact = { id: "exact", names: ["vnc.example.com", "other.test"] };
  const certs = [def, wild, exact];
  assert.equal(pickCert(certs, "vnc.example.com").id, "exact");
  assert.equal(pickCert(certs, "VNC.Example.com").id, "exact");
  assert.equal(pickCert(certs, "other.test").id, "exact");
  assert.equal(pickCert(certs, "desk.example.com").id, "wild");
  // A wildcard covers one label only.
  assert.equal(pickCert(certs, "a.desk.example.com").id, "default");
  assert.equal(pickCert(certs, "example.com").id, "default");
  assert.equal(pickCert(certs, "unknown.test").id, "default");
  assert.equal(pickCert(certs, undefined).id, "default");
  assert.equal(pickCert(certs, "").id, "default");
});

let certs: TestCerts;

Deno.test({
  name: "loadCert and --cert-dir with real certificates",
  ignore,
  async fn(t) {
    certs = await makeCerts();
    try {
      await t.step("names from the SAN, label = first DNS name, serial and expiry", async () => {
        const a = await makeLeaf(certs, "a", ["a.example", "*.a.example"]);
        const c = await loadCert(a);
        assert.deepEqual(c.names, ["a.example", "*.a.example"]);
        assert.equal(c.label, "a.example");
        assert.match(c.serial, /^[0-9A-F]+$/i);
        assert.ok(c.notAfter.getTime() > Date.now());
        assert.match(c.subject, /CN=a\.example/);
        assert.match(c.chain, /^-----BEGIN CERTIFICATE-----/);
      });

      await t.step("no SAN: the CN is the name", async () => {
        const cn = await makeLeaf(certs, "cnonly", [], { cn: "cn.example" });
        const c = await loadCert(cn);
        assert.deepEqual(c.names, ["cn.example"]);
        assert.equal(c.label, "cn.example");
      });

      await t.step(
        "a key that is not the certificate's is refused, naming both files",
        async () => {
          await assert.rejects(
            loadCert({ cert: certs.serverCert, key: certs.server2Key }),
            /--key .*server2\.key does not belong to the certificate in --cert .*server\.pem/,
          );
        },
      );

      await t.step(
        "--cert-dir: NAME.pem + NAME.key, NAME.crt with the key inside, sorted",
        async () => {
          using dir = tempDir();
          const d = dir.path;
          Deno.copyFileSync(certs.serverCert, `${d}/b.pem`);
          Deno.copyFileSync(certs.serverKey, `${d}/b.key`);
          Deno.writeTextFileSync(
            `${d}/a.crt`,
            Deno.readTextFileSync(certs.server2Cert) + Deno.readTextFileSync(certs.server2Key),
          );
          Deno.writeTextFileSync(`${d}/README`, "not a certificate");
          Deno.copyFileSync(certs.serverKey, `${d}/lonely.key`);
          Deno.mkdirSync(`${d}/.hidden`);
          assert.deepEqual(await readCertDir(d), [
            { cert: `${d}/a.crt`, key: undefined },
            { cert: `${d}/b.pem`, key: `${d}/b.key` },
          ]);
          const loaded = await Promise.all((await readCertDir(d)).map((f) => loadCert(f)));
          assert.deepEqual(loaded.map((c) => c.subject), ["CN=localhost-2", "CN=localhost"]);
        },
      );

      await t.step(
        "--cert-dir: certbot's live/NAME and a Kubernetes secret's tls.crt",
        async () => {
          using dir = tempDir();
          const d = dir.path;
          // certbot: live/NAME/*.pem are symlinks into archive/NAME/.
          Deno.mkdirSync(`${d}/archive/vnc.example`, { recursive: true });
          Deno.mkdirSync(`${d}/live/vnc.example`, { recursive: true });
          Deno.copyFileSync(certs.serverCert, `${d}/archive/vnc.example/fullchain1.pem`);
          Deno.copyFileSync(certs.serverKey, `${d}/archive/vnc.example/privkey1.pem`);
          Deno.symlinkSync(
            "../../archive/vnc.example/fullchain1.pem",
            `${d}/live/vnc.example/fullchain.pem`,
          );
          Deno.symlinkSync(
            "../../archive/vnc.example/privkey1.pem",
            `${d}/live/vnc.example/privkey.pem`,
          );
          Deno.writeTextFileSync(`${d}/live/README`, "certbot's note");
          // A secret volume: tls.crt → ..data/tls.crt, ..data → a timestamped directory.
          const k = `${d}/live/desk`;
          Deno.mkdirSync(`${k}/..2026_01_01`, { recursive: true });
          Deno.copyFileSync(certs.server2Cert, `${k}/..2026_01_01/tls.crt`);
          Deno.copyFileSync(certs.server2Key, `${k}/..2026_01_01/tls.key`);
          Deno.symlinkSync("..2026_01_01", `${k}/..data`);
          Deno.symlinkSync("..data/tls.crt", `${k}/tls.crt`);
          Deno.symlinkSync("..data/tls.key", `${k}/tls.key`);
          const found = await readCertDir(`${d}/live`);
          assert.deepEqual(found, [
            { cert: `${k}/tls.crt`, key: `${k}/tls.key` },
            {
              cert: `${d}/live/vnc.example/fullchain.pem`,
              key: `${d}/live/vnc.example/privkey.pem`,
            },
          ]);
          for (const f of found) await loadCert(f);
        },
      );

      await t.step(
        "--cert-dir: an empty or missing directory is an error saying what to put in it",
        async () => {
          using dir = tempDir();
          await assert.rejects(readCertDir(dir.path), /no certificates in it \(expected NAME\.pem/);
          await assert.rejects(
            readCertDir(`${dir.path}/nope`),
            /cannot read it \(no such directory\)/,
          );
        },
      );

      await t.step("the set's order: --cert pairs, then --cert-dir; none is an error", async () => {
        using dir = tempDir();
        Deno.copyFileSync(certs.serverCert, `${dir.path}/z.pem`);
        Deno.copyFileSync(certs.serverKey, `${dir.path}/z.key`);
        const list = await certFileList({
          cert: certs.server2Cert,
          key: certs.server2Key,
          extraCerts: [{ cert: certs.selfCert, key: certs.selfKey }],
          certDir: dir.path,
          sslOnly: false,
          verifyClient: false,
        });
        assert.deepEqual(list.map((f) => f.cert), [
          certs.server2Cert,
          certs.selfCert,
          `${dir.path}/z.pem`,
        ]);
        await assert.rejects(
          certFileList({ sslOnly: false, verifyClient: false }),
          /TLS needs --cert FILE or --cert-dir DIR/,
        );
        const watched = await watchedPaths({
          cert: certs.server2Cert,
          key: certs.server2Key,
          certDir: dir.path,
          cafile: certs.ca,
          sslOnly: false,
          verifyClient: false,
        });
        assert.deepEqual(
          watched.sort(),
          [
            certs.ca,
            certs.server2Cert,
            certs.server2Key,
            dir.path,
            `${dir.path}/z.key`,
            `${dir.path}/z.pem`,
          ].sort(),
        );
      });
    } finally {
      await certs.remove();
    }
  },
});
