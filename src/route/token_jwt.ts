/**
 * websockify's `JWTTokenApi`: the token itself is a JWT whose `host` and
 * `port` claims name the target. Verified with npm `jose`. The token's
 * settings are claims with the same names as in a token file
 * (`"view_only": true`, `"max_duration": 600`; `target_settings.ts`); other
 * claims are ignored, except a misspelt setting, which refuses the token.
 *
 * The source is a key file or a key set URL:
 * - a PEM public key (`PUBLIC KEY`, `RSA PUBLIC KEY`) or certificate: signed
 *   tokens (JWS) with RS256/384/512, PS256/384/512, ES256/384/512 or EdDSA;
 * - a PEM private key (PKCS#8, PKCS#1 or SEC1): encrypted tokens (JWE,
 *   RSA-OAEP* or ECDH-ES*) whose payload is a JWS signed with the same key
 *   pair (verified with its public half); plain JWS are verified too;
 * - anything else: a shared secret for HS256/384/512 JWS and for JWE with
 *   `dir`, A*KW or A*GCMKW whose payload is an HS* JWS. As websockify reads it
 *   (jwcrypto's `JWK(kty="oct", k=<file text>)`), the file's text is the
 *   base64url encoding of the secret: surrounding whitespace is trimmed, and
 *   text that is not base64url (standard base64's `+`, `/` and `=` padding are
 *   accepted, as jwcrypto does) stops the start. With `secretEncoding: "raw"`
 *   (`--jwt-secret-encoding raw`) the file's bytes are the secret as they
 *   are, newline included (vncws's earlier reading). A secret shorter than
 *   32 bytes is a start-up warning: HMAC keys should be at least the hash size
 *   (HS256 32, HS384 48, HS512 64 bytes).
 * - an `https://` URL: a JSON Web Key Set, keys chosen by the token's `kid`
 *   and `alg` (a token without `kid` is tried with each key that fits its
 *   `alg`); `token_jwks.ts` holds the fetch rate bounds and failure handling.
 *
 * An encrypted token must carry a signed one: with a key pair anyone holding
 * the public key can encrypt, so encryption alone proves nothing.
 * `nbf` and `exp` are honoured when present, with a clock skew allowance
 * (default 30 s); with `audience`/`issuer` set, the signed token's `aud` must
 * name that audience and its `iss` be that issuer. Invalid, expired,
 * not-yet-valid or foreign tokens resolve `null` (logged with a token hash and
 * the reason); a key set that cannot be fetched is a backend failure (503).
 *
 * A key file is re-read when its mtime or size changes (key rotation without
 * a restart), with the same secret encoding; a re-read that fails keeps the
 * loaded key.
 * @module
 */
import { createPrivateKey, createPublicKey } from "node:crypto";
import {
  compactDecrypt,
  type CompactDecryptGetKey,
  errors,
  importPKCS8,
  importSPKI,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from "jose";
import type { JwtSecretEncoding } from "../config/config.ts";
import type { Target } from "../net/address.ts";
import { logInfo, logWarn } from "../base/log.ts";
import {
  TARGET_FIELDS,
  targetFromParts,
  type TokenAnswer,
  TokenBackendError,
  tokenHash,
  type TokenResolver,
} from "./resolver.ts";
import { type JwksOptions, jwksUrl, RemoteKeySet } from "./token_jwks.ts";
import { settingsFromObject } from "./target_settings.ts";

/** The claims the backend reads itself: the target and RFC 7519's registered claims. */
const OWN_CLAIMS = [...TARGET_FIELDS, "iss", "sub", "aud", "exp", "nbf", "iat", "jti"];

/** Options for {@linkcode JWTTokenApi}. */
export interface JwtOptions {
  /** Seconds of clock difference tolerated for `nbf` and `exp` (default 30). */
  clockSkew?: number;
  /** A shared-secret key file's reading (default `base64url`, as websockify). */
  secretEncoding?: JwtSecretEncoding;
  /** Tokens must carry this `aud` (absent: not checked). */
  audience?: string;
  /** Tokens must carry this `iss` (absent: not checked). */
  issuer?: string;
  /** Seconds for one key set fetch (default 5). */
  timeout?: number;
  /** Key set fetch rate settings (tests shorten them). */
  jwks?: Omit<JwksOptions, "timeout">;
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
  | { kind: "secret"; secret: Uint8Array }
  | { kind: "jwks"; set: RemoteKeySet };

/** HMAC keys shorter than this (HS256's hash size) get a warning. */
const MIN_SECRET_BYTES = 32;

/**
 * A key file's text as jwcrypto reads a JWK `k`: base64url (or base64) of the
 * secret, here with surrounding whitespace trimmed.
 */
function decodeSecret(text: string, path: string): Uint8Array {
  const t = text.trim();
  const body = t.replace(/={1,2}$/, "");
  const valid = /^[A-Za-z0-9_+/-]+$/.test(body) && body.length % 4 !== 1 &&
    (body === t || t.length % 4 === 0);
  if (!valid) {
    throw new Error(
      `JWT key file ${path} is not base64url text: websockify reads a shared-secret key file ` +
        'as base64url of the secret (a JWK "k"); to use the file\'s bytes as they are, ' +
        "add --jwt-secret-encoding raw",
    );
  }
  const b64 = body.replaceAll("-", "+").replaceAll("_", "/");
  return Uint8Array.from(
    atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)),
    (c) => c.charCodeAt(0),
  );
}

/** Reads a key file's content into the key material it holds. */
function keyMaterial(bytes: Uint8Array, path: string, encoding: JwtSecretEncoding): KeyMaterial {
  const text = new TextDecoder().decode(bytes);
  if (!text.includes("-----BEGIN ")) {
    const secret = encoding === "raw" ? bytes : decodeSecret(text, path);
    if (secret.length === 0) throw new Error(`JWT key file ${path} holds no secret`);
    return { kind: "secret", secret };
  }
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
  /** `--token-source`: a key file (a PEM key or a shared secret) or a key set URL. */
  readonly keyFile: string;
  readonly #skew: number;
  readonly #encoding: JwtSecretEncoding;
  readonly #audience?: string;
  readonly #issuer?: string;
  #key!: KeyMaterial;
  #keySig = "";
  #imported = new Map<string, CryptoKey>();

  /**
   * Reads the key file now, so a bad key fails at start; a key set URL is
   * fetched in the background (see `token_jwks.ts`).
   */
  constructor(keyFile: string, options: JwtOptions = {}) {
    this.keyFile = keyFile;
    this.#skew = options.clockSkew ?? 30;
    this.#encoding = options.secretEncoding ?? "base64url";
    this.#audience = options.audience || undefined;
    this.#issuer = options.issuer || undefined;
    const url = jwksUrl(keyFile);
    if (url) {
      this.#key = {
        kind: "jwks",
        set: new RemoteKeySet(url, { ...options.jwks, timeout: options.timeout }),
      };
    } else {
      this.#loadKey(Deno.statSync(keyFile));
    }
  }

  /** Resolves once the first key set fetch has ended (at once for a key file). */
  async ready(): Promise<void> {
    if (this.#key.kind === "jwks") await this.#key.set.ready;
  }

  #loadKey(info: Deno.FileInfo): void {
    const key = keyMaterial(Deno.readFileSync(this.keyFile), this.keyFile, this.#encoding);
    this.#key = key;
    this.#keySig = `${info.mtime?.getTime()}:${info.size}:${info.ino}`;
    this.#imported.clear();
    if (key.kind === "secret" && key.secret.length < MIN_SECRET_BYTES) {
      const hint = this.#encoding === "base64url"
        ? "; if the file holds the secret itself, not its base64url, use --jwt-secret-encoding raw"
        : "";
      logWarn(
        `JWT secret is ${key.secret.length} bytes: HS256 needs at least 32, HS384 48, ` +
          `HS512 64 to be as strong as the hash${hint}`,
        { file: this.keyFile },
      );
    }
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
    return (await this.lookupDetail(token))?.target ?? null;
  }

  /**
   * {@linkcode JWTTokenApi.lookup} with the verified `exp` as `expiresAt`
   * (without the clock skew allowance: the session ends at `exp`) and the
   * settings among the claims.
   */
  async lookupDetail(token: string): Promise<TokenAnswer | null> {
    if (this.#key.kind !== "jwks") await this.#reloadIfChanged();
    try {
      const parts = token.split(".").length;
      let claims: JWTPayload;
      if (parts === 5) claims = await this.#verify(await this.#decrypt(token));
      else if (parts === 3) claims = await this.#verify(token);
      else throw new Error("not a compact JWS or JWE");
      const answer: TokenAnswer = { target: targetFromParts(claims.host, claims.port) };
      if (typeof claims.exp === "number") answer.expiresAt = claims.exp * 1000;
      const settings = settingsFromObject(claims, { own: OWN_CLAIMS, strict: false });
      if (settings) answer.settings = settings;
      return answer;
    } catch (e) {
      if (e instanceof TokenBackendError) throw e;
      const reason = (e as Error).message;
      // A vncws user upgrading with a raw secret file (a hex secret is valid base64url too)
      // sees every token fail its signature: say what to do.
      const hint = this.#key.kind === "secret" && this.#encoding === "base64url" &&
          /signature/i.test(reason)
        ? "if the key file holds the secret itself, not its base64url text, use " +
          "--jwt-secret-encoding raw"
        : undefined;
      logInfo("JWT token refused", { token: tokenHash(token), reason, hint });
      return null;
    }
  }

  async #reloadIfChanged(): Promise<void> {
    try {
      const info = await Deno.stat(this.keyFile);
      if (`${info.mtime?.getTime()}:${info.size}:${info.ino}` !== this.#keySig) this.#loadKey(info);
    } catch (e) {
      logInfo("JWT key file re-read failed, using the loaded key", {
        file: this.keyFile,
        reason: (e as Error).message,
      });
    }
  }

  async #decrypt(token: string): Promise<string> {
    const key = this.#key;
    if (key.kind === "public" || key.kind === "jwks") {
      throw new Error(
        `encrypted token, but the key ${
          key.kind === "jwks" ? "set holds public keys" : "file holds a public key"
        } (JWE needs the private key)`,
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
    const getKey: JWTVerifyGetKey = key.kind === "jwks"
      ? (header) => key.set.getKey(header)
      : (header) =>
        key.kind === "secret" ? key.secret : this.#importKey("spki", key.spki, String(header.alg));
    const options: JWTVerifyOptions = {
      algorithms: key.kind === "secret" ? SYMMETRIC_SIG : ASYMMETRIC_SIG,
      clockTolerance: this.#skew,
      audience: this.#audience,
      issuer: this.#issuer,
    };
    try {
      return (await jwtVerify(jws, getKey, options)).payload;
    } catch (e) {
      // A key set with several keys that fit the token (no kid): jose hands them over to try.
      if (!(e instanceof errors.JWKSMultipleMatchingKeys)) throw e;
      for await (const candidate of e) {
        try {
          return (await jwtVerify(jws, candidate, options)).payload;
        } catch (inner) {
          if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
        }
      }
      throw new Error("no key in the JWKS verifies the token's signature");
    }
  }
}
