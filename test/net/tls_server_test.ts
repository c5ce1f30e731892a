/**
 * createTlsServer on its own: a listener that sniffs like the session
 * does, upgrades, and echoes (prefixed with the verified CN), driven by
 * node:tls clients with real certificates from openssl. Every test runs over
 * both listeners: Deno's (TLS over a JavaScript stream) and node:net's (TLS
 * attached to the native socket, the --ssl-only path).
 */
import assert from "node:assert/strict";
import tls from "node:tls";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { skipUnless, waitUntil } from "../../scripts/testing/util.ts";

const until = (f: () => boolean, what: string) => waitUntil(f, what, 5_000, 50);
import { makeCerts, makeLeaf, type TestCerts } from "../../scripts/testing/certs.ts";
import { addLogSink } from "../../src/base/log.ts";
import { allowedTls12Suites, createTlsServer, type TlsServer } from "../../src/net/tls_server.ts";
import { DenoStream, PrefixedStream } from "../../src/net/stream.ts";
import { openNodeListener } from "../../src/net/node_listener.ts";
import type { TlsConfig } from "../../src/config/config.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const LISTENERS = ["deno", "node"] as const;
type ListenWith = typeof LISTENERS[number];
/** The listener kind of the test that runs now (tests in a file run one at a time). */
let listenWith: ListenWith = "deno";

async function listen(): Promise<Deno.Listener> {
  return listenWith === "node"
    ? await openNodeListener({ hostname: "127.0.0.1", port: 0 })
    : Deno.listen({ hostname: "127.0.0.1", port: 0 });
}
const ignore = skipUnless("openssl", "apt-get install openssl");

interface Harness {
  port: number;
  server: TlsServer;
  /** Upgrade errors seen so far. */
  errors: string[];
  /** The `local` address of each TLS stream (what the outbound PROXY header names). */
  locals: Array<string | undefined>;
  close(): void;
}

/** Accepts, upgrades, then echoes `cn=<CN>\n` followed by everything received. */
async function harness(
  config: Partial<TlsConfig>,
  handshakeTimeoutMs?: number,
  watchIntervalMs?: number,
): Promise<Harness> {
  const server = await createTlsServer(
    { sslOnly: true, verifyClient: false, ...config },
    { handshakeTimeoutMs, watchIntervalMs },
  );
  const listener = await listen();
  const errors: string[] = [];
  const locals: Array<string | undefined> = [];
  (async () => {
    for await (const conn of listener) {
      (async () => {
        const raw = new DenoStream(conn);
        const first = new Uint8Array(4096);
        const n = await raw.read(first);
        if (n === null) return raw.close();
        let s;
        try {
          s = await server.upgrade(new PrefixedStream(raw, first.slice(0, n)));
        } catch (e) {
          errors.push((e as Error).message);
          return raw.close();
        }
        locals.push(s.local);
        await s.writeAll(new TextEncoder().encode(`cn=${s.clientCertCN ?? "-"}\n`));
        const buf = new Uint8Array(16384);
        for (;;) {
          const r = await s.read(buf).catch(() => null);
          if (r === null) break;
          await s.writeAll(buf.subarray(0, r));
        }
        await s.closeWrite();
        s.close();
      })().catch(() => {});
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    server,
    errors,
    locals,
    close: () => {
      listener.close();
      server.close();
    },
  };
}

/** A connected node:tls client, with the first line it received. */
async function client(
  port: number,
  options: tls.ConnectionOptions,
): Promise<{ socket: tls.TLSSocket; line: string; peerCN?: string }> {
  const socket = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ...options });
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", () => resolve());
    socket.once("error", reject);
  });
  const peerCN = socket.getPeerCertificate()?.subject?.CN as string | undefined;
  const line = await new Promise<string>((resolve, reject) => {
    let text = "";
    const onData = (d: Uint8Array) => {
      text += new TextDecoder().decode(d);
      const i = text.indexOf("\n");
      if (i >= 0) {
        socket.off("data", onData);
        if (text.length > i + 1) socket.unshift(new TextEncoder().encode(text.slice(i + 1)));
        resolve(text.slice(0, i));
      }
    };
    socket.on("data", onData);
    socket.once("error", reject);
    socket.once("close", () => reject(new Error(`closed before a line; got "${text}"`)));
  });
  return { socket, line, peerCN };
}

/** Sends `data` and reads the same number of bytes back. */
async function echo(socket: tls.TLSSocket, data: Uint8Array): Promise<Uint8Array> {
  const out = new Uint8Array(data.length);
  let got = 0;
  const done = new Promise<void>((resolve, reject) => {
    socket.on("data", (d: Uint8Array) => {
      out.set(d, got);
      got += d.length;
      if (got >= data.length) resolve();
    });
    socket.once("error", reject);
    socket.once("close", () => reject(new Error(`closed after ${got} of ${data.length} bytes`)));
  });
  socket.write(data);
  await done;
  return out;
}

/** Resolves with the error (or "closed") once a client is refused. */
async function refused(port: number, options: tls.ConnectionOptions): Promise<string> {
  try {
    const c = await client(port, options);
    c.socket.destroy();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("the client was not refused");
}

/** openssl s_client over TLS 1.2 with one cipher; resolves what it printed. */
async function sClient(port: number, cipher: string): Promise<string> {
  const p = new Deno.Command("openssl", {
    args: [
      "s_client",
      "-connect",
      `127.0.0.1:${port}`,
      "-tls1_2",
      "-cipher",
      cipher,
      "-quiet",
      "-no_ign_eof",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode("x"));
  // Keep stdin open a moment so the greeting can arrive, then close it.
  await new Promise((r) => setTimeout(r, 500));
  await w.close();
  const out = await p.output();
  return new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
}

let certs: TestCerts;

for (const kind of LISTENERS) {
  Deno.test({
    name:
      `createTlsServer (${kind} listener): TLS echo, key checks, mTLS, versions, ciphers, timeout, reload`,
    ignore,
    ...opts,
    async fn(t) {
      listenWith = kind;
      certs = await makeCerts();
      const ca = await Deno.readTextFile(certs.ca);
      const read = (p: string) => Deno.readTextFileSync(p);
      try {
        await t.step("echo over TLS, 2 MiB intact; no CN without --verify-client", async () => {
          const h = await harness({ cert: certs.serverCert, key: certs.serverKey });
          try {
            const c = await client(h.port, { ca });
            assert.equal(c.line, "cn=-");
            // The stream under TLS keeps its local address (for --proxy-protocol).
            assert.deepEqual(h.locals, [`127.0.0.1:${h.port}`]);
            const data = crypto.getRandomValues(new Uint8Array(65536));
            const big = new Uint8Array(2 * 1024 * 1024);
            for (let i = 0; i < big.length; i += data.length) big.set(data, i);
            const back = await echo(c.socket, big);
            assert.equal(
              createHash("sha256").update(back).digest("hex"),
              createHash("sha256").update(big).digest("hex"),
            );
            c.socket.destroy();
          } finally {
            h.close();
          }
        });

        await t.step("key in the --cert file (websockify's default without --key)", async () => {
          const both = `${certs.dir}/both.pem`;
          await Deno.writeTextFile(both, read(certs.serverCert) + read(certs.serverKey));
          const h = await harness({ cert: both });
          try {
            const c = await client(h.port, { ca });
            assert.equal(c.line, "cn=-");
            c.socket.destroy();
          } finally {
            h.close();
          }
        });

        await t.step("encrypted key with --key-password", async () => {
          const h = await harness({
            cert: certs.serverCert,
            key: certs.serverKeyEncrypted,
            keyPassword: "secret",
          });
          try {
            const c = await client(h.port, { ca });
            assert.equal(c.line, "cn=-");
            c.socket.destroy();
          } finally {
            h.close();
          }
        });

        await t.step("bad files are refused at start, naming the file", async () => {
          const base = { sslOnly: false, verifyClient: false, cert: certs.serverCert };
          await assert.rejects(
            createTlsServer({ ...base, key: certs.serverKeyEncrypted }),
            /--key .*server\.enc\.key.*encrypted.*--key-password/,
          );
          await assert.rejects(
            createTlsServer({ ...base, key: certs.serverKeyEncrypted, keyPassword: "nope" }),
            /wrong --key-password/,
          );
          await assert.rejects(
            createTlsServer({ ...base, key: certs.aliceKey }),
            /--key .*alice\.key does not belong to the certificate/,
          );
          await assert.rejects(
            createTlsServer({ ...base, key: `${certs.dir}/missing.key` }),
            /--key .*missing\.key: cannot read it \(no such file\)/,
          );
          await assert.rejects(
            createTlsServer({ ...base }),
            /--cert .*server\.pem holds no private key: give the key file with --key FILE/,
          );
          await assert.rejects(
            createTlsServer({ ...base, key: certs.serverKey, cert: certs.serverKey }),
            /--cert .*server\.key: no PEM certificate/,
          );
          await assert.rejects(
            createTlsServer({
              ...base,
              key: certs.serverKey,
              verifyClient: true,
              cafile: certs.serverKey,
            }),
            /--cafile .*: no PEM certificate/,
          );
        });

        await t.step(
          "mTLS: alice's CN reaches the stream; no cert and untrusted cert refused",
          async () => {
            const h = await harness({
              cert: certs.serverCert,
              key: certs.serverKey,
              verifyClient: true,
              cafile: certs.ca,
            });
            try {
              const c = await client(h.port, {
                ca,
                cert: read(certs.aliceCert),
                key: read(certs.aliceKey),
              });
              assert.equal(c.line, "cn=alice");
              assert.deepEqual(
                await echo(c.socket, new TextEncoder().encode("hi")),
                new TextEncoder().encode("hi"),
              );
              c.socket.destroy();

              await refused(h.port, { ca });
              await until(() => h.errors.length === 1, "the no-certificate refusal");
              assert.match(h.errors[0], /TLS handshake failed: no client certificate/);

              await refused(h.port, { ca, cert: read(certs.selfCert), key: read(certs.selfKey) });
              await until(() => h.errors.length === 2, "the untrusted-certificate refusal");
              assert.match(h.errors[1], /client certificate CN=mallory not trusted: .*--cafile/);
            } finally {
              h.close();
            }
          },
        );

        await t.step("--ssl-version tlsv1_3 refuses a TLS 1.2 client", async () => {
          const h = await harness({
            cert: certs.serverCert,
            key: certs.serverKey,
            sslVersion: "tlsv1_3",
          });
          try {
            await refused(h.port, { ca, maxVersion: "TLSv1.2" });
            await until(() => h.errors.length === 1, "the refusal");
            assert.match(h.errors[0], /TLS version not accepted.*tlsv1_3/);
            const c = await client(h.port, { ca });
            assert.equal(c.socket.getProtocol(), "TLSv1.3");
            c.socket.destroy();
          } finally {
            h.close();
          }
        });

        await t.step("--ssl-ciphers limits TLS 1.2 suites", async () => {
          assert.equal(allowedTls12Suites("HIGH:!aNULL:!MD5"), undefined);
          assert.deepEqual(
            allowedTls12Suites("ECDHE-RSA-AES128-GCM-SHA256:!ECDHE-RSA-AES256-GCM-SHA384:HIGH"),
            new Set(["ECDHE-RSA-AES128-GCM-SHA256"]),
          );
          assert.throws(() => allowedTls12Suites("DHE-RSA-AES256-SHA"), /none of these suites/);
          const h = await harness({
            cert: certs.serverCert,
            key: certs.serverKey,
            sslCiphers: "ECDHE-RSA-AES128-GCM-SHA256",
          });
          try {
            // openssl as the client: Deno's node:tls client ignores `ciphers`.
            assert.doesNotMatch(await sClient(h.port, "ECDHE-RSA-AES256-GCM-SHA384"), /cn=-/);
            await until(() => h.errors.length === 1, "the refusal");
            assert.match(h.errors[0], /cipher ECDHE-RSA-AES256-GCM-SHA384 is not in --ssl-ciphers/);
            assert.match(await sClient(h.port, "ECDHE-RSA-AES128-GCM-SHA256"), /cn=-/);
          } finally {
            h.close();
          }
        });

        await t.step("a stalled handshake is closed after the timeout", async () => {
          const h = await harness({ cert: certs.serverCert, key: certs.serverKey }, 300);
          try {
            const conn = await Deno.connect({ hostname: "127.0.0.1", port: h.port });
            await conn.write(new Uint8Array([0x16, 0x03, 0x01]));
            assert.equal(await conn.read(new Uint8Array(16)), null);
            conn.close();
            assert.match(h.errors[0], /TLS handshake failed: not complete within 0\.3s/);
          } finally {
            h.close();
          }
        });

        await t.step("a client's half-close: what it sent is still echoed back", async () => {
          const h = await harness({ cert: certs.serverCert, key: certs.serverKey });
          try {
            const c = await client(h.port, { ca });
            const got: Uint8Array[] = [];
            const ended = new Promise<void>((resolve, reject) => {
              c.socket.on("data", (d: Uint8Array) => got.push(d));
              c.socket.once("end", () => resolve());
              c.socket.once("error", reject);
            });
            const data = new Uint8Array(200_000).map((_, i) => (i * 31) & 0xff);
            c.socket.end(data); // data, then close_notify and FIN: our side stays open
            // Liveness bound only: a server that stopped sending never ends the stream.
            let bound: ReturnType<typeof setTimeout> | undefined;
            await Promise.race([
              ended,
              new Promise((_, reject) => {
                bound = setTimeout(() => reject(new Error("no echo and no end in 10 s")), 10_000);
              }),
            ]).finally(() => clearTimeout(bound));
            assert.deepEqual(Buffer.concat(got), Buffer.from(data));
            c.socket.destroy();
          } finally {
            h.close();
          }
        });

        await t.step("a client that hangs up mid-handshake is dropped at once", async () => {
          const h = await harness({ cert: certs.serverCert, key: certs.serverKey }, 10_000);
          try {
            const conn = await Deno.connect({ hostname: "127.0.0.1", port: h.port });
            await conn.write(new Uint8Array([0x16, 0x03, 0x01]));
            await new Promise((r) => setTimeout(r, 100));
            conn.close();
            // Well before the 10 s handshake timeout.
            await until(() => h.errors.length === 1, "the handshake failure");
            assert.match(h.errors[0], /closed the connection during the handshake/);
          } finally {
            h.close();
          }
        });

        await t.step(
          "reload: new connections get the new certificate, old ones go on",
          async () => {
            const cert = `${certs.dir}/live.pem`;
            const key = `${certs.dir}/live.key`;
            await Deno.copyFile(certs.serverCert, cert);
            await Deno.copyFile(certs.serverKey, key);
            const h = await harness({ cert, key });
            try {
              const before = await client(h.port, { ca });
              assert.equal(before.peerCN, "localhost");
              await Deno.copyFile(certs.server2Cert, cert);
              await Deno.copyFile(certs.server2Key, key);
              await h.server.reload();
              const after = await client(h.port, { ca });
              assert.equal(after.peerCN, "localhost-2");
              const hi = new TextEncoder().encode("still here");
              assert.deepEqual(await echo(before.socket, hi), hi);
              before.socket.destroy();
              after.socket.destroy();
              // A broken file is refused and the loaded certificate stays in use.
              await Deno.writeTextFile(key, "junk");
              await assert.rejects(h.server.reload(), /--key .*live\.key: no PEM private key/);
              const again = await client(h.port, { ca });
              assert.equal(again.peerCN, "localhost-2");
              again.socket.destroy();
            } finally {
              h.close();
            }
          },
        );
      } finally {
        await certs.remove();
      }
    },
  });
}

for (const kind of LISTENERS) {
  Deno.test({
    name: `createTlsServer (${kind} listener): SNI picks the certificate; renewal on disk`,
    ignore,
    ...opts,
    async fn(t) {
      listenWith = kind;
      const c = await makeCerts();
      const ca = await Deno.readTextFile(c.ca);
      const a = await makeLeaf(c, "a", ["a.example"]);
      const wild = await makeLeaf(c, "wild", ["*.wild.example"]);
      const exact = await makeLeaf(c, "exact", ["x.wild.example"]);
      const sni = {
        cert: c.serverCert,
        key: c.serverKey,
        extraCerts: [a, wild, exact],
      };
      const cnFor = async (port: number, servername: string, more: tls.ConnectionOptions = {}) => {
        const got = await client(port, { ca, servername, ...more });
        got.socket.destroy();
        return got.peerCN;
      };
      try {
        await t.step(
          "each name its certificate (verified); unknown or no name: the first",
          async () => {
            const h = await harness(sni);
            try {
              assert.equal(await cnFor(h.port, "a.example"), "a.example");
              assert.equal(await cnFor(h.port, "desk.wild.example"), "*.wild.example");
              // An exact name wins over the wildcard listed before it.
              assert.equal(await cnFor(h.port, "x.wild.example"), "x.wild.example");
              assert.equal(await cnFor(h.port, "localhost"), "localhost");
              // Not verified: the default certificate lacks these names.
              const loose = { rejectUnauthorized: false };
              assert.equal(await cnFor(h.port, "unknown.example", loose), "localhost");
              assert.equal(await cnFor(h.port, "a.b.wild.example", loose), "localhost");
              assert.equal(await cnFor(h.port, "", loose), "localhost");
            } finally {
              h.close();
            }
          },
        );

        await t.step("with one certificate every name gets it", async () => {
          const h = await harness({ cert: c.serverCert, key: c.serverKey });
          try {
            const cn = await cnFor(h.port, "a.example", { rejectUnauthorized: false });
            assert.equal(cn, "localhost");
          } finally {
            h.close();
          }
        });

        await t.step("with SNI: mTLS and --ssl-version still apply", async () => {
          const h = await harness({
            ...sni,
            verifyClient: true,
            cafile: c.ca,
            sslVersion: "tlsv1_3",
          });
          try {
            const alice = await client(h.port, {
              ca,
              servername: "a.example",
              cert: Deno.readTextFileSync(c.aliceCert),
              key: Deno.readTextFileSync(c.aliceKey),
            });
            assert.equal(alice.peerCN, "a.example");
            assert.equal(alice.line, "cn=alice");
            alice.socket.destroy();
            await refused(h.port, { ca, servername: "a.example" });
            await until(() => h.errors.some((e) => /no client certificate/.test(e)), "refusal");
            await refused(h.port, {
              ca,
              servername: "a.example",
              cert: Deno.readTextFileSync(c.aliceCert),
              key: Deno.readTextFileSync(c.aliceKey),
              maxVersion: "TLSv1.2",
            });
          } finally {
            h.close();
          }
        });

        await t.step(
          "a pair renamed into place is served without reload(); a bad one keeps the old, logged once",
          async () => {
            const cert = `${c.dir}/live.pem`;
            const key = `${c.dir}/live.key`;
            await Deno.copyFile(c.serverCert, cert);
            await Deno.copyFile(c.serverKey, key);
            const errors: string[] = [];
            const remove = addLogSink((text, level) => {
              if (level === "error") errors.push(text);
            });
            const h = await harness({ cert, key, extraCerts: [a] }, undefined, 50);
            try {
              const before = await client(h.port, { ca });
              assert.equal(before.peerCN, "localhost");
              // certbot's way: new files beside the old, renamed over them.
              await Deno.copyFile(c.server2Key, `${key}.new`);
              await Deno.copyFile(c.server2Cert, `${cert}.new`);
              await Deno.rename(`${key}.new`, key);
              await Deno.rename(`${cert}.new`, cert);
              await until(
                () => h.server.certificates()[0].subject === "CN=localhost-2",
                "the renewed certificate",
              );
              assert.equal(await cnFor(h.port, "localhost"), "localhost-2");
              assert.equal(await cnFor(h.port, "a.example"), "a.example");
              const hi = new TextEncoder().encode("still here");
              assert.deepEqual(await echo(before.socket, hi), hi);
              before.socket.destroy();

              // A key that is not the certificate's: the old pair stays.
              await Deno.copyFile(c.serverKey, key);
              await until(() => errors.length > 0, "the error line");
              assert.match(errors[0], /cannot be used.*live\.key does not belong/);
              await new Promise((r) => setTimeout(r, 500)); // ten more polls
              assert.equal(errors.length, 1, `logged more than once: ${errors.join("\n")}`);
              assert.equal(await cnFor(h.port, "localhost"), "localhost-2");
              // The matching certificate arrives: served.
              await Deno.copyFile(c.serverCert, cert);
              await until(
                () => h.server.certificates()[0].subject === "CN=localhost",
                "the fixed pair",
              );
              assert.equal(await cnFor(h.port, "localhost"), "localhost");
            } finally {
              remove();
              h.close();
            }
          },
        );
      } finally {
        await c.remove();
      }
    },
  });
}

for (const kind of LISTENERS) {
  Deno.test({
    name:
      `createTlsServer (${kind} listener): backpressure both ways (a stalled peer stops the other side)`,
    ignore,
    ...opts,
    async fn() {
      listenWith = kind;
      const c = await makeCerts();
      const tlsServer = await createTlsServer({
        cert: c.serverCert,
        key: c.serverKey,
        sslOnly: true,
        verifyClient: false,
      });
      const listener = await listen();
      const port = (listener.addr as Deno.NetAddr).port;
      const total = 64 * 1024 * 1024;
      let serverWrote = 0;
      let rawRead = 0;
      let release!: () => void;
      const released = new Promise<void>((r) => release = r);
      (async () => {
        for await (const conn of listener) {
          const raw = new DenoStream(conn);
          const read = raw.read.bind(raw);
          raw.read = async (b) => {
            const n = await read(b);
            rawRead += n ?? 0;
            return n;
          };
          const first = new Uint8Array(4096);
          const n = await raw.read(first);
          const s = await tlsServer.upgrade(new PrefixedStream(raw, first.slice(0, n!)));
          const mode = new Uint8Array(1);
          await s.read(mode);
          if (mode[0] === 1) {
            // Flood a client that does not read.
            const chunk = new Uint8Array(64 * 1024);
            while (serverWrote < total) {
              await s.writeAll(chunk);
              serverWrote += chunk.length;
            }
            await s.closeWrite();
          } else {
            // Read nothing until released, then drain.
            await released;
            const buf = new Uint8Array(65536);
            while (await s.read(buf) !== null) { /* drain */ }
          }
          s.close();
        }
      })().catch(() => {});
      const ca = await Deno.readTextFile(c.ca);
      const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
      try {
        // Down: the server's writes stop while the client does not read.
        const a = await Deno.connectTls({ hostname: "localhost", port, caCerts: [ca] });
        await a.write(new Uint8Array([1]));
        await wait(1500);
        const stalledAt = serverWrote;
        assert.ok(
          stalledAt < total / 2,
          `server wrote ${stalledAt} bytes to a client that reads nothing`,
        );
        const buf = new Uint8Array(1 << 18);
        let got = 0;
        for (;;) {
          const n = await a.read(buf);
          if (n === null) break;
          got += n;
        }
        assert.equal(got, total);
        a.close();

        // Up: a server that does not read stops reading the socket, so the client blocks.
        rawRead = 0;
        const b = await Deno.connectTls({ hostname: "localhost", port, caCerts: [ca] });
        await b.write(new Uint8Array([2]));
        let clientWrote = 0;
        const chunk = new Uint8Array(64 * 1024);
        const writer = (async () => {
          while (clientWrote < total) clientWrote += await b.write(chunk);
        })().catch(() => {});
        await wait(1500);
        // Over a node socket TLS reads the socket natively, past this counter.
        if (kind === "deno") {
          assert.ok(rawRead < total / 2, `server read ${rawRead} bytes it was not asked for`);
        }
        assert.ok(clientWrote < total / 2, `client could write ${clientWrote} bytes`);
        release();
        await writer;
        assert.equal(clientWrote, total);
        b.close();
      } finally {
        listener.close();
        tlsServer.close();
        await c.remove();
      }
    },
  });
}
