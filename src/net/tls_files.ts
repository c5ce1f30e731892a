/**
 * Reading and checking PEM files for TLS. node:tls in Deno accepts bad
 * files silently and fails only at the first handshake, so vncws checks
 * them itself at start (and on reload) and names the bad file.
 * @module
 */
import crypto from "node:crypto";

/** A PEM file could not be read; {@linkcode PemReadError.reason} says why in a few words. */
export class PemReadError extends Error {
  /** An error naming the file and what to do about it. */
  constructor(
    readonly path: string,
    readonly option: string,
    readonly reason: string,
  ) {
    super(`${option} ${path}: cannot read it (${reason})`);
  }
}

/** Reads a text file; the error ({@linkcode PemReadError}) names the file and the option it came from. */
export async function readPem(path: string, option: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : message(e);
    throw new PemReadError(path, option, why);
  }
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The PEM certificate blocks in `text`; throws naming `path` when there is none or one is bad. */
export function certificates(text: string, path: string, option: string): crypto.X509Certificate[] {
  const blocks = text.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) {
    throw new Error(`${option} ${path}: no PEM certificate ("BEGIN CERTIFICATE") in it`);
  }
  return blocks.map((b, i) => {
    try {
      return new crypto.X509Certificate(b);
    } catch (e) {
      throw new Error(`${option} ${path}: certificate #${i + 1} is not valid: ${message(e)}`);
    }
  });
}

/** A private key read from PEM: the key and its PEM block alone. */
export interface PrivateKey {
  /** The parsed private key. */
  key: crypto.KeyObject;
  /** The key as unencrypted PEM, for the TLS layer. */
  pem: string;
}

/** The private key in `text` (decrypted with `passphrase`); throws naming `path`. */
export function privateKey(
  text: string,
  path: string,
  passphrase: string | undefined,
): PrivateKey {
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    throw new Error(`--key ${path}: no PEM private key ("BEGIN PRIVATE KEY") in it`);
  }
  // The block alone: a --cert file may hold the certificate and the key.
  const block = text.match(
    /-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]+?-----END \1PRIVATE KEY-----/,
  );
  try {
    const pem = block?.[0] ?? text;
    return { key: crypto.createPrivateKey({ key: pem, passphrase }), pem };
  } catch (e) {
    const encrypted = /ENCRYPTED/.test(text);
    if (encrypted && passphrase === undefined) {
      throw new Error(
        `--key ${path}: the key is encrypted; give its passphrase with --key-password`,
      );
    }
    if (encrypted) throw new Error(`--key ${path}: wrong --key-password (${message(e)})`);
    throw new Error(`--key ${path}: not a valid private key: ${message(e)}`);
  }
}

/** Throws unless `key` is the private key of `cert`. */
export function checkKeyMatches(
  cert: crypto.X509Certificate,
  key: crypto.KeyObject,
  paths: { cert: string; key: string },
): void {
  const a = cert.publicKey.export({ type: "spki", format: "der" });
  const b = crypto.createPublicKey(key).export({ type: "spki", format: "der" });
  if (!a.equals(b)) {
    throw new Error(
      `--key ${paths.key} does not belong to the certificate in --cert ${paths.cert} ` +
        `(subject ${cert.subject.replaceAll("\n", ", ")})`,
    );
  }
}

/** The message of an unknown thrown value. */
export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
