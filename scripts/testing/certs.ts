/**
 * Test certificates made with `openssl` in a temp dir: a CA, a server leaf
 * for localhost/127.0.0.1/::1 signed by it, a client leaf CN=alice signed by
 * it, and a self-signed leaf (CN=mallory) that no CA vouches for. The TLS,
 * net and bridge tests use {@linkcode makeCerts}; the benchmark uses
 * {@linkcode selfSigned}.
 * @module
 */

/** Paths of the generated PEM files. */
export interface TestCerts {
  dir: string;
  ca: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  /** The server key encrypted with passphrase "secret". */
  serverKeyEncrypted: string;
  /** A second server certificate from the same CA (CN=localhost-2), for reload tests. */
  server2Cert: string;
  server2Key: string;
  aliceCert: string;
  aliceKey: string;
  selfCert: string;
  selfKey: string;
  /** Removes the directory. */
  remove(): Promise<void>;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", {
    args,
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args.join(" ")} failed:\n${new TextDecoder().decode(out.stderr)}`);
  }
}

/** `openssl req` arguments for a new unencrypted RSA key in `NAME.key`. */
function newKey(name: string): string[] {
  return ["-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`];
}

/** Options for {@linkcode selfSigned}. */
export interface SelfSignedOptions {
  /** Subject, e.g. `/CN=localhost`. */
  subject: string;
  /** X.509v3 extensions (`-addext`), e.g. `subjectAltName=IP:127.0.0.1`. */
  extensions?: string[];
}

/**
 * Makes a self-signed certificate `NAME.pem` and its unencrypted RSA key
 * `NAME.key` in `dir`, valid for two days; resolves their paths.
 */
export async function selfSigned(
  dir: string,
  name: string,
  options: SelfSignedOptions,
): Promise<{ cert: string; key: string }> {
  await openssl(dir, [
    "req",
    "-x509",
    ...newKey(name),
    "-out",
    `${name}.pem`,
    "-days",
    "2",
    "-subj",
    options.subject,
    ...(options.extensions ?? []).flatMap((e) => ["-addext", e]),
  ]);
  return { cert: `${dir}/${name}.pem`, key: `${dir}/${name}.key` };
}

async function leaf(
  dir: string,
  name: string,
  subject: string,
  ext: string,
  days = 2,
): Promise<void> {
  await Deno.writeTextFile(`${dir}/${name}.ext`, ext);
  await openssl(dir, [
    "req",
    ...newKey(name),
    "-out",
    `${name}.csr`,
    "-subj",
    subject,
  ]);
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    `${name}.pem`,
    "-days",
    String(days),
    "-extfile",
    `${name}.ext`,
  ]);
}

const SERVER_EXT = "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n" +
  "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n";

/** Makes a fresh set of certificates in a new temp dir. */
export async function makeCerts(): Promise<TestCerts> {
  const dir = await Deno.makeTempDir({ prefix: "vncws-tls-" });
  await selfSigned(dir, "ca", {
    subject: "/CN=vncws-test-ca",
    extensions: ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"],
  });
  await leaf(dir, "server", "/CN=localhost", SERVER_EXT);
  await leaf(dir, "server2", "/CN=localhost-2", SERVER_EXT);
  await leaf(
    dir,
    "alice",
    "/CN=alice",
    "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n",
  );
  await openssl(dir, [
    "pkey",
    "-in",
    "server.key",
    "-aes256",
    "-passout",
    "pass:secret",
    "-out",
    "server.enc.key",
  ]);
  await selfSigned(dir, "self", {
    subject: "/CN=mallory",
    extensions: ["subjectAltName=DNS:localhost,IP:127.0.0.1", "basicConstraints=critical,CA:FALSE"],
  });
  return {
    dir,
    ca: `${dir}/ca.pem`,
    caKey: `${dir}/ca.key`,
    serverCert: `${dir}/server.pem`,
    serverKey: `${dir}/server.key`,
    serverKeyEncrypted: `${dir}/server.enc.key`,
    server2Cert: `${dir}/server2.pem`,
    server2Key: `${dir}/server2.key`,
    aliceCert: `${dir}/alice.pem`,
    aliceKey: `${dir}/alice.key`,
    selfCert: `${dir}/self.pem`,
    selfKey: `${dir}/self.key`,
    remove: () => Deno.remove(dir, { recursive: true }),
  };
}

/**
 * Makes another server certificate `NAME.pem` + `NAME.key` in `certs.dir`,
 * signed by the test CA, for `dnsNames` (its SAN; the first is also its CN);
 * with no names it has a CN and no SAN. Valid for `days` (default 2).
 */
export async function makeLeaf(
  certs: TestCerts,
  name: string,
  dnsNames: string[],
  options: { cn?: string; days?: number } = {},
): Promise<{ cert: string; key: string }> {
  const san = dnsNames.length > 0
    ? `subjectAltName=${dnsNames.map((n) => `DNS:${n}`).join(",")}\n`
    : "";
  await leaf(
    certs.dir,
    name,
    `/CN=${options.cn ?? dnsNames[0] ?? name}`,
    `${san}basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n`,
    options.days,
  );
  return { cert: `${certs.dir}/${name}.pem`, key: `${certs.dir}/${name}.key` };
}

/** vncws arguments serving TLS with the test server certificate. */
export function certArgs(certs: TestCerts): string[] {
  return ["--cert", certs.serverCert, "--key", certs.serverKey];
}

/** vncws arguments for a TLS-only port with the test server certificate. */
export function sslOnlyArgs(certs: TestCerts): string[] {
  return [...certArgs(certs), "--ssl-only"];
}
