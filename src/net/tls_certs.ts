/**
 * The server's certificate set: which files (`--cert`/`--key` pairs, then
 * `--cert-dir`), each loaded and checked, and which certificate a client's
 * server name (SNI) gets. tls_server.ts serves the set and reloads it.
 * @module
 */
import type crypto from "node:crypto";
import { logWarn } from "../base/log.ts";
import type { CertFiles, TlsConfig } from "./tls_options.ts";
import { certificates, checkKeyMatches, privateKey, readPem } from "./tls_files.ts";

/** A certificate ready to serve, with what the logs and metrics say about it. */
export interface ServedCert {
  /** The files it came from. */
  files: CertFiles;
  /** Host names and addresses it is valid for (SAN entries, else the CN), lower case. */
  names: string[];
  /** What metrics call it: the first DNS name, else the CN, else the file. */
  label: string;
  /** When the leaf certificate expires. */
  notAfter: Date;
  /** The leaf's subject, one line. */
  subject: string;
  /** The leaf's serial number (hex), to tell one issue from the next. */
  serial: string;
  /** The PEM certificate chain, certificates only. */
  chain: string;
  /** The private key's PEM block (encrypted with `--key-password` if the file's is). */
  key: string;
}

/**
 * The pairs in a `--cert-dir`, by entry name (hidden entries skipped):
 * - `NAME.pem` or `NAME.crt` with `NAME.key` beside it (or the key inside);
 * - a directory `NAME/` with `fullchain.pem` + `privkey.pem` (certbot's
 *   `/etc/letsencrypt/live`) or `tls.crt` + `tls.key` (Kubernetes TLS
 *   secrets, cert-manager), read through their symlinks.
 * Other entries (certbot's README, a lone `NAME.key`) are ignored.
 */
export async function readCertDir(dir: string): Promise<CertFiles[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (!e.name.startsWith(".")) names.push(e.name);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such directory" : (e as Error).message;
    throw new Error(`--cert-dir ${dir}: cannot read it (${why})`);
  }
  names.sort();
  const found: CertFiles[] = [];
  const isFile = async (p: string) => (await Deno.stat(p).catch(() => undefined))?.isFile ?? false;
  for (const name of names) {
    const path = `${dir}/${name}`;
    const info = await Deno.stat(path).catch(() => undefined);
    if (info?.isDirectory) {
      for (const [cert, key] of [["fullchain.pem", "privkey.pem"], ["tls.crt", "tls.key"]]) {
        if (await isFile(`${path}/${cert}`)) {
          found.push({ cert: `${path}/${cert}`, key: `${path}/${key}` });
          break;
        }
      }
    } else if (info?.isFile && /\.(pem|crt)$/.test(name)) {
      const key = `${path.slice(0, -4)}.key`;
      found.push({ cert: path, key: await isFile(key) ? key : undefined });
    }
  }
  if (found.length === 0) {
    throw new Error(
      `--cert-dir ${dir}: no certificates in it (expected NAME.pem with NAME.key, ` +
        `or NAME/fullchain.pem with NAME/privkey.pem, or NAME/tls.crt with NAME/tls.key)`,
    );
  }
  return found;
}

/** The `--cert`/`--key` pairs of `config`, in order. */
function namedPairs(config: TlsConfig): CertFiles[] {
  const first = config.cert ? [{ cert: config.cert, key: config.key }] : [];
  return [...first, ...config.extraCerts ?? []];
}

/** Every certificate of `config`, the default first: the `--cert` pairs in order, then `--cert-dir`. */
export async function certFileList(config: TlsConfig): Promise<CertFiles[]> {
  const list = namedPairs(config);
  if (config.certDir) list.push(...await readCertDir(config.certDir));
  if (list.length === 0) throw new Error("TLS needs --cert FILE or --cert-dir DIR");
  return list;
}

/**
 * The paths whose change means the certificates must be read again: every
 * certificate and key file, `--cafile`, and `--cert-dir` itself (its
 * entries come and go; while it cannot be read, its own stat is watched).
 */
export async function watchedPaths(config: TlsConfig): Promise<string[]> {
  const inDir = config.certDir ? await readCertDir(config.certDir).catch(() => []) : [];
  const paths = [...namedPairs(config), ...inDir].flatMap((f) =>
    f.key ? [f.cert, f.key] : [f.cert]
  );
  if (config.certDir) paths.push(config.certDir);
  if (config.cafile) paths.push(config.cafile);
  return paths;
}

const CERT_BLOCKS = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Reads and checks one certificate and its key; throws naming the bad file. */
export async function loadCert(files: CertFiles, passphrase?: string): Promise<ServedCert> {
  const certPath = files.cert;
  // websockify: without --key the key is in the --cert file.
  const keyPath = files.key ?? files.cert;
  const certText = await readPem(certPath, "--cert");
  const keyText = keyPath === certPath ? certText : await readPem(keyPath, "--key");
  const chain = certificates(certText, certPath, "--cert");
  if (files.key === undefined && !/PRIVATE KEY-----/.test(certText)) {
    throw new Error(`--cert ${certPath} holds no private key: give the key file with --key FILE`);
  }
  const key = privateKey(keyText, keyPath, passphrase);
  checkKeyMatches(chain[0], key.key, { cert: certPath, key: keyPath });
  const leaf = chain[0];
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() < Date.now()) {
    logWarn("the server certificate has expired: clients will refuse it", {
      cert: certPath,
      expired: notAfter.toISOString(),
    });
  }
  const names = certificateNames(leaf);
  const dns = (leaf.subjectAltName ?? "").match(/DNS:([^,\s]+)/)?.[1];
  return {
    files,
    names,
    label: dns?.toLowerCase() ?? names[0] ?? certPath,
    notAfter,
    subject: leaf.subject.replaceAll("\n", ", "),
    serial: leaf.serialNumber,
    chain: certText.match(CERT_BLOCKS)!.join("\n"),
    key: key.pem,
  };
}

/** Host names and addresses a certificate is valid for: its SAN entries, else its CN. */
export function certificateNames(cert: crypto.X509Certificate): string[] {
  const san = (cert.subjectAltName ?? "").split(/,\s*/).map((e) =>
    e.replace(/^(DNS|IP Address):/, "").toLowerCase()
  ).filter((e) => e !== "");
  if (san.length > 0) return san;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  return cn ? [cn.toLowerCase()] : [];
}

/** Whether `name` (a certificate's) is `host`, or a wildcard covering it (`*.x` covers one label). */
function wildcardCovers(name: string, host: string): boolean {
  return name.startsWith("*.") && host.endsWith(name.slice(1)) &&
    !host.slice(0, -name.length + 1).includes(".");
}

/** Whether `host` (the client's SNI) is one of `names` (`*.x` covers one label). */
export function nameMatches(names: readonly string[], host: string): boolean {
  const h = host.toLowerCase();
  return names.some((n) => n === h || wildcardCovers(n, h));
}

/**
 * The certificate for the server name a client asked for: the first with
 * that exact name, else the first whose wildcard covers it, else the first
 * of all (the default, also for a client that sends no name).
 */
export function pickCert<T extends { names: readonly string[] }>(
  certs: readonly T[],
  host: string | undefined,
): T {
  if (host) {
    const h = host.toLowerCase();
    const match = certs.find((c) => c.names.includes(h)) ??
      certs.find((c) => c.names.some((n) => wildcardCovers(n, h)));
    if (match) return match;
  }
  return certs[0];
}
