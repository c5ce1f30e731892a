/**
 * websockify's `JWTTokenApi`: the token itself is a JWT whose `host` and
 * `port` claims name the target. Verified with npm `jose`.
 *
 * The source is a key file:
 * - a PEM public key (`PUBLIC KEY`, `RSA PUBLIC KEY`) or certificate: signed
 *   tokens (JWS) with RS256/384/512, PS256/384/512, ES256/384/512 or EdDSA;
 * - a PEM private key (PKCS#8, PKCS#1 or SEC1): encrypted tokens (JWE,
 *   RSA-OAEP* or ECDH-ES*) whose payload is a JWS signed with the same key
 *   pair (verified with its public half); plain JWS are verified too;
 * - anything else: the raw bytes of a shared secret (no trimming — a trailing
 *   newline is part of the secret, as in websockify) for HS256/384/512 JWS and
 *   for JWE with `dir`, A*KW or A*GCMKW whose payload is an HS* JWS.
 *
 * An encrypted token must carry a signed one: with a key pair anyone holding
 * the public key can encrypt, so encryption alone proves nothing.
 * `nbf` and `exp` are honoured when present, with a clock skew allowance
 * (default 30 s). Invalid, expired or not-yet-valid tokens resolve `null`
 * (logged with a token hash and the reason).
 *
 * The key file is re-read when its mtime or size changes (key rotation
 * without a restart).
 * @module
 */
import { createPrivateKey, createPublicKey } from "node:crypto";
import {
  compactDecrypt,
  type CompactDecryptGetKey,
  importPKCS8,
  importSPKI,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyGetKey,
} from "jose";
import type { Target } from "../net/address.ts";
import { logInfo } from "../base/log.ts";
import { targetFromParts, tokenHash, type TokenResolver } from "./resolver.ts";

/** Options for {@linkcode JWTTokenApi}. */
export interface JwtOptions {
  /** Seconds of clock difference tolerated for `nbf` and `exp` (default 30). */
  clockSkew?: number;
}

const ASYMMETRIC_SIG = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
];
const SYMMETRIC_SIG = ["HS256", "HS384", "HS512"];
const ASYMMETRIC_ENC = [
  "RSA-OAEP",
  "RSA-OAEP-256",
  "RSA-OAEP-384",
  "RSA-OAEP-512",
  "ECDH-ES",
  "ECDH-ES+A128KW",
  "ECDH-ES+A192KW",
  "ECDH-ES+A256KW",
];
const SYMMETRIC_ENC = ["dir", "A128KW", "A192KW", "A256KW", "A128GCMKW", "A192GCMKW", "A256GCMKW"];

type KeyMaterial =
  | { kind: "public"; spki: string }
  | { kind: "private"; pkcs8: string; spki: string }
  | { kind: "secret"; secret: Uint8Array };

/** Reads a key file's content into the key material it holds. */
function keyMaterial(bytes: Uint8Array, path: string): KeyMaterial {
  const text = new TextDecoder().decode(bytes);
  if (!text.includes("-----BEGIN ")) return { kind: "secret", secret: bytes };
  try {
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
      const key = createPrivateKey(text);
      return {
        kind: "private",
        pkcs8: key.export({ type: "pkcs8", format: "pem" }) as string,
        spki: createPublicKey(key).export({ type: "spki", format: "pem" }) as string,
      };
    }
    const spki = createPublicKey(text).export({ type: "spki", format: "pem" }) as string;
    return { kind: "public", spki };
  } catch (e) {
    throw new Error(
      `JWT key file ${path} holds a PEM block that is not a usable key: ${(e as Error).message}`,
    );
  }
}

/** Signed (JWS) or encrypted (JWE) JWTs with `host` and `port` claims. */
export class JWTTokenApi implements TokenResolver {
  /** The key file (`--token-source`): a PEM key or a shared secret. */
  readonly keyFile: string;
  readonly #skew: number;
  #key!: KeyMaterial;
  #keySig = "";
  #imported = new Map<string, CryptoKey>();

  /** Reads the key file now, so a bad key fails at start. */
  constructor(keyFile: string, options: JwtOptions = {}) {
    this.keyFile = keyFile;
    this.#skew = options.clockSkew ?? 30;
    this.#loadKey(Deno.statSync(keyFile));
  }

  #loadKey(info: Deno.FileInfo): void {
    this.#key = keyMaterial(Deno.readFileSync(this.keyFile), this.keyFile);
    this.#keySig = `${info.mtime?.getTime()}:${info.size}:${info.ino}`;
    this.#imported.clear();
  }

  async #importKey(kind: "spki" | "pkcs8", pem: string, alg: string): Promise<CryptoKey> {
    const id = `${kind}:${alg}`;
    let key = this.#imported.get(id);
    if (!key) {
      key = kind === "spki" ? await importSPKI(pem, alg) : await importPKCS8(pem, alg);
      this.#imported.set(id, key);
    }
    return key;
  }

  /** Verifies (and decrypts) the token; `null` when it is not valid now. */
  async lookup(token: string): Promise<Target | null> {
    try {
      const info = await Deno.stat(this.keyFile);
      if (`${info.mtime?.getTime()}:${info.size}:${info.ino}` !== this.#keySig) this.#loadKey(info);
    } catch (e) {
      logInfo("JWT key file re-read failed, using the loaded key", {
        file: this.keyFile,
        reason: (e as Error).message,
      });
    }
    try {
      const parts = token.split(".").length;
      let claims: JWTPayload;
      if (parts === 5) claims = await this.#verify(await this.#decrypt(token));
      else if (parts === 3) claims = await this.#verify(token);
      else throw new Error("not a compact JWS or JWE");
      return targetFromParts(claims.host, claims.port);
    } catch (e) {
      logInfo("JWT token refused", { token: tokenHash(token), reason: (e as Error).message });
      return null;
    }
  }

  async #decrypt(token: string): Promise<string> {
    const key = this.#key;
    if (key.kind === "public") {
      throw new Error(
        "encrypted token, but the key file holds a public key (JWE needs the private key)",
      );
    }
    const getKey: CompactDecryptGetKey = (header) =>
      key.kind === "secret" ? key.secret : this.#importKey("pkcs8", key.pkcs8, String(header.alg));
    const { plaintext } = await compactDecrypt(token, getKey, {
      keyManagementAlgorithms: key.kind === "secret" ? SYMMETRIC_ENC : ASYMMETRIC_ENC,
    });
    const inner = new TextDecoder().decode(plaintext);
    if (inner.split(".").length !== 3) {
      throw new Error("encrypted token does not contain a signed JWT");
    }
    return inner;
  }

  async #verify(jws: string): Promise<JWTPayload> {
    const key = this.#key;
    const getKey: JWTVerifyGetKey = (header) =>
      key.kind === "secret" ? key.secret : this.#importKey("spki", key.spki, String(header.alg));
    const { payload } = await jwtVerify(jws, getKey, {
      algorithms: key.kind === "secret" ? SYMMETRIC_SIG : ASYMMETRIC_SIG,
      clockTolerance: this.#skew,
    });
    return payload;
  }
}
