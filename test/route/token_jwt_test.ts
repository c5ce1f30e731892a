import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import {
  CompactEncrypt,
  exportPKCS8,
  exportSPKI,
  generateKeyPair,
  importPKCS8,
  importSPKI,
  SignJWT,
} from "jose";
import { captureWarnings } from "../../scripts/testing/util.ts";
import { JWTTokenApi } from "../../src/route/token_jwt.ts";
import { addLogSink } from "../../src/base/log.ts";

const now = () => Math.floor(Date.now() / 1000);
const claims = { host: "127.0.0.1", port: 5901 };
const target = { kind: "tcp", hostname: "127.0.0.1", port: 5901 };
const enc = new TextEncoder();

/** base64url without padding: a JWK "k", as websockify's key files hold it. */
function b64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

const hs256 = (secret: Uint8Array, extra: Record<string, unknown> = {}) =>
  new SignJWT({ ...claims, ...extra }).setProtectedHeader({ alg: "HS256" }).sign(secret);

/** The warnings logged while `fn` runs. */
const warnings = captureWarnings;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("JWT HS256 with --jwt-secret-encoding raw (bytes as written, newline included)", () =>
  withDir(async (dir) => {
    const secretText = "correct horse battery staple\n";
    await Deno.writeTextFile(`${dir}/key`, secretText);
    // Not base64url (spaces): the default reading refuses it and names the option.
    assert.throws(() => new JWTTokenApi(`${dir}/key`), /--jwt-secret-encoding raw/);
    const r = new JWTTokenApi(`${dir}/key`, { secretEncoding: "raw" });
    const secret = new TextEncoder().encode(secretText);
    const good = await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(secret);
    assert.deepEqual(await r.lookup(good), target);
    const trimmed = new TextEncoder().encode(secretText.trim());
    const other = await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(trimmed);
    assert.equal(await r.lookup(other), null);
    // Port as a string and an IPv6 host work too.
    const v6 = await new SignJWT({ host: "::1", port: "5906" }).setProtectedHeader({ alg: "HS512" })
      .sign(secret);
    assert.deepEqual(await r.lookup(v6), { kind: "tcp", hostname: "::1", port: 5906 });
    // Tampered payload, garbage, unsigned.
    const [h, , s] = good.split(".");
    const forged = btoa(JSON.stringify({ host: "10.0.0.1", port: 22 })).replace(/=+$/, "");
    assert.equal(await r.lookup(`${h}.${forged}.${s}`), null);
    assert.equal(await r.lookup("not-a-jwt"), null);
    const none = `${btoa('{"alg":"none"}').replace(/=+$/, "")}.${forged}.`;
    assert.equal(await r.lookup(none), null);
    // Missing claims.
    const noPort = await new SignJWT({ host: "h" }).setProtectedHeader({ alg: "HS256" }).sign(
      secret,
    );
    assert.equal(await r.lookup(noPort), null);
  }));

Deno.test("JWT nbf and exp with clock skew", () =>
  withDir(async (dir) => {
    const secret = crypto.getRandomValues(new Uint8Array(32));
    await Deno.writeTextFile(`${dir}/key`, b64url(secret));
    const r = new JWTTokenApi(`${dir}/key`, { clockSkew: 30 });
    const sign = (c: Record<string, number>) =>
      new SignJWT({ ...claims, ...c }).setProtectedHeader({ alg: "HS256" }).sign(secret);
    assert.equal(await r.lookup(await sign({ exp: now() - 120 })), null);
    assert.deepEqual(await r.lookup(await sign({ exp: now() - 10 })), target, "within skew");
    assert.equal(await r.lookup(await sign({ nbf: now() + 120 })), null);
    assert.deepEqual(await r.lookup(await sign({ nbf: now() + 10 })), target, "within skew");
    assert.deepEqual(await r.lookup(await sign({ nbf: now() - 5, exp: now() + 60 })), target);
    const strict = new JWTTokenApi(`${dir}/key`, { clockSkew: 0 });
    assert.equal(await strict.lookup(await sign({ exp: now() - 10 })), null);
  }));

Deno.test("JWT RS256 and ES256 with PEM public keys; no algorithm confusion", () =>
  withDir(async (dir) => {
    const rsa = await generateKeyPair("RS256", { extractable: true });
    const rsaPem = await exportSPKI(rsa.publicKey);
    await Deno.writeTextFile(`${dir}/rsa.pem`, rsaPem);
    const r = new JWTTokenApi(`${dir}/rsa.pem`);
    const good = await new SignJWT(claims).setProtectedHeader({ alg: "RS256" }).sign(
      rsa.privateKey,
    );
    assert.deepEqual(await r.lookup(good), target);
    const ps = await new SignJWT(claims).setProtectedHeader({ alg: "PS256" }).sign(
      (await generateKeyPair("PS256")).privateKey,
    );
    assert.equal(await r.lookup(ps), null, "other key");
    // HS256 signed with the public key's PEM text as the secret must not verify.
    const confused = await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(
      new TextEncoder().encode(rsaPem),
    );
    assert.equal(await r.lookup(confused), null);

    const ec = await generateKeyPair("ES256", { extractable: true });
    await Deno.writeTextFile(`${dir}/ec.pem`, await exportSPKI(ec.publicKey));
    const e = new JWTTokenApi(`${dir}/ec.pem`);
    const es = await new SignJWT(claims).setProtectedHeader({ alg: "ES256" }).sign(ec.privateKey);
    assert.deepEqual(await e.lookup(es), target);
    assert.equal(await e.lookup(good), null);
    // A public key cannot decrypt JWE.
    const jwe = await new CompactEncrypt(new TextEncoder().encode(es))
      .setProtectedHeader({ alg: "ECDH-ES", enc: "A256GCM" })
      .encrypt(await importSPKI(await exportSPKI(ec.publicKey), "ECDH-ES"));
    assert.equal(await e.lookup(jwe), null);
  }));

Deno.test("JWE with a private key (RSA-OAEP-256, ECDH-ES) carrying a signed JWT", () =>
  withDir(async (dir) => {
    const rsa = await generateKeyPair("RSA-OAEP-256", { extractable: true });
    // The same RSA key pair signs (RS256) and decrypts (RSA-OAEP-256), as websockify expects.
    await Deno.writeTextFile(`${dir}/rsa.key`, await exportPKCS8(rsa.privateKey));
    const r = new JWTTokenApi(`${dir}/rsa.key`);
    const signer = await importPKCS8(await exportPKCS8(rsa.privateKey), "RS256");
    const inner = await new SignJWT({ ...claims, exp: now() + 60 }).setProtectedHeader({
      alg: "RS256",
    }).sign(signer);
    const encrypt = (text: string) =>
      new CompactEncrypt(new TextEncoder().encode(text))
        .setProtectedHeader({ alg: "RSA-OAEP-256", enc: "A256GCM", cty: "JWT" })
        .encrypt(rsa.publicKey);
    assert.deepEqual(await r.lookup(await encrypt(inner)), target);
    // Signed JWS alone works with the private key file too.
    assert.deepEqual(await r.lookup(inner), target);
    // Encryption without a signature inside is refused: anyone with the public key can encrypt.
    assert.equal(await r.lookup(await encrypt(JSON.stringify(claims))), null);
    // A nested JWT signed by another key is refused.
    const stranger = await new SignJWT(claims).setProtectedHeader({ alg: "RS256" }).sign(
      (await generateKeyPair("RS256")).privateKey,
    );
    assert.equal(await r.lookup(await encrypt(stranger)), null);
    // Expired nested token.
    const old = await new SignJWT({ ...claims, exp: now() - 600 }).setProtectedHeader({
      alg: "RS256",
    }).sign(signer);
    assert.equal(await r.lookup(await encrypt(old)), null);

    // SEC1 ("EC PRIVATE KEY") PEM from node:crypto, ECDH-ES + ES256.
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
    await Deno.writeTextFile(
      `${dir}/ec.key`,
      ec.privateKey.export({ type: "sec1", format: "pem" }) as string,
    );
    const e = new JWTTokenApi(`${dir}/ec.key`);
    const ecSigner = await importPKCS8(
      ec.privateKey.export({ type: "pkcs8", format: "pem" }) as string,
      "ES256",
    );
    const ecPub = await importSPKI(
      ec.publicKey.export({ type: "spki", format: "pem" }) as string,
      "ECDH-ES",
    );
    const ecInner = await new SignJWT(claims).setProtectedHeader({ alg: "ES256" }).sign(ecSigner);
    const ecJwe = await new CompactEncrypt(new TextEncoder().encode(ecInner))
      .setProtectedHeader({ alg: "ECDH-ES", enc: "A128GCM" }).encrypt(ecPub);
    assert.deepEqual(await e.lookup(ecJwe), target);
  }));

Deno.test("JWE with a shared secret (dir + A256GCM) carrying an HS256 JWT; key rotation", () =>
  withDir(async (dir) => {
    const secret = crypto.getRandomValues(new Uint8Array(32));
    await Deno.writeTextFile(`${dir}/key`, `${b64url(secret)}\n`);
    const r = new JWTTokenApi(`${dir}/key`);
    const inner = await hs256(secret);
    const jwe = await new CompactEncrypt(enc.encode(inner))
      .setProtectedHeader({ alg: "dir", enc: "A256GCM" }).encrypt(secret);
    assert.deepEqual(await r.lookup(jwe), target);
    // The same JWE made with the file's text as the key does not open.
    const textKey = enc.encode(b64url(secret).slice(0, 32));
    const wrongJwe = await new CompactEncrypt(enc.encode(inner))
      .setProtectedHeader({ alg: "dir", enc: "A256GCM" }).encrypt(textKey);
    assert.equal(await r.lookup(wrongJwe), null);
    // A128KW wraps with the first 16 bytes' worth of key: a 16-byte secret.
    const kw = crypto.getRandomValues(new Uint8Array(16));
    await Deno.writeTextFile(`${dir}/kw`, b64url(kw));
    const kwApi = new JWTTokenApi(`${dir}/kw`);
    const kwJwe = await new CompactEncrypt(enc.encode(await hs256(kw)))
      .setProtectedHeader({ alg: "A128KW", enc: "A128GCM" }).encrypt(kw);
    assert.deepEqual(await kwApi.lookup(kwJwe), target);
    // Rotate the key file: old tokens stop working, new ones work (read with the same encoding).
    const next = crypto.getRandomValues(new Uint8Array(33));
    await Deno.writeTextFile(`${dir}/key`, `${b64url(next)}\n\n`);
    assert.equal(await r.lookup(inner), null);
    assert.deepEqual(await r.lookup(await hs256(next)), target);
    // A rewrite that is not base64url keeps the loaded key (logged), until the file is fixed.
    await Deno.writeTextFile(`${dir}/key`, "not base64url!");
    assert.deepEqual(await r.lookup(await hs256(next)), target);
  }));

Deno.test("raw key file rotation keeps the raw reading", () =>
  withDir(async (dir) => {
    const first = crypto.getRandomValues(new Uint8Array(40));
    await Deno.writeFile(`${dir}/key`, first);
    const r = new JWTTokenApi(`${dir}/key`, { secretEncoding: "raw" });
    assert.deepEqual(await r.lookup(await hs256(first)), target);
    const next = enc.encode(`${b64url(crypto.getRandomValues(new Uint8Array(32)))}\n`);
    await Deno.writeFile(`${dir}/key`, next);
    assert.equal(await r.lookup(await hs256(first)), null);
    assert.deepEqual(await r.lookup(await hs256(next)), target, "the text's bytes, not decoded");
  }));

Deno.test("websockify key file: base64url text of the secret, trailing newline trimmed", () =>
  withDir(async (dir) => {
    const secret = crypto.getRandomValues(new Uint8Array(32));
    const text = `${b64url(secret)}\n`;
    await Deno.writeTextFile(`${dir}/key`, text);
    const r = new JWTTokenApi(`${dir}/key`);
    assert.deepEqual(await r.lookup(await hs256(secret)), target, "signed with the decoded bytes");
    const rawSigned = await hs256(enc.encode(text));
    assert.equal(await r.lookup(rawSigned), null, "signed with the file's bytes");
    assert.equal(await r.lookup(await hs256(enc.encode(text.trim()))), null, "with the text");
    // The raw reading is the other way round.
    const raw = new JWTTokenApi(`${dir}/key`, { secretEncoding: "raw" });
    assert.deepEqual(await raw.lookup(rawSigned), target);
    assert.equal(await raw.lookup(await hs256(secret)), null);
    // Expired, and signed by another key: refused.
    assert.equal(await r.lookup(await hs256(secret, { exp: now() - 600 })), null);
    const other = crypto.getRandomValues(new Uint8Array(32));
    assert.equal(await r.lookup(await hs256(other)), null);
    // HS384 and HS512 verify with the same key.
    const hs512 = await new SignJWT(claims).setProtectedHeader({ alg: "HS512" }).sign(secret);
    assert.deepEqual(await r.lookup(hs512), target);
  }));

Deno.test("base64url key files: what jwcrypto accepts is accepted, the rest stops the start", () =>
  withDir(async (dir) => {
    const secret = new Uint8Array(32).map((_, i) => 0xf8 + (i % 8)); // "+" and "/" in base64
    const file = `${dir}/key`;
    // Standard base64 with padding, CRLF and surrounding spaces.
    await Deno.writeTextFile(file, `  ${btoa(String.fromCharCode(...secret))}\r\n`);
    assert.match(await Deno.readTextFile(file), /[+/]/);
    assert.deepEqual(await new JWTTokenApi(file).lookup(await hs256(secret)), target);
    await Deno.writeTextFile(file, `${b64url(secret)}=`);
    assert.deepEqual(await new JWTTokenApi(file).lookup(await hs256(secret)), target);
    for (const bad of ["abc$defg", "abcde", "ab cd", "ab=", "abcd=", "ab==cd", "=", "é"]) {
      await Deno.writeTextFile(file, bad);
      assert.throws(() => new JWTTokenApi(file), /--jwt-secret-encoding raw/, bad);
      assert.doesNotThrow(() => new JWTTokenApi(file, { secretEncoding: "raw" }), bad);
    }
    await Deno.writeTextFile(file, "\n");
    assert.throws(() => new JWTTokenApi(file), /--jwt-secret-encoding raw/, "empty");
    await Deno.writeTextFile(file, "");
    assert.throws(() => new JWTTokenApi(file, { secretEncoding: "raw" }), /holds no secret/);
  }));

Deno.test("a secret shorter than 32 bytes is a start-up warning; 32 bytes is not", () =>
  withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/short`, b64url(new Uint8Array(16).fill(7)));
    const short = await warnings(() => new JWTTokenApi(`${dir}/short`));
    assert.equal(short.length, 1, short.join("\n"));
    assert.match(short[0], /16 bytes: HS256 needs at least 32, HS384 48, HS512 64/);
    assert.match(short[0], /--jwt-secret-encoding raw/);
    assert.ok(!short[0].includes(b64url(new Uint8Array(16).fill(7))), "the key is not logged");
    await Deno.writeTextFile(`${dir}/ok`, b64url(new Uint8Array(32).fill(7)));
    assert.deepEqual(await warnings(() => new JWTTokenApi(`${dir}/ok`)), []);
    await Deno.writeTextFile(`${dir}/raw`, "short raw secret");
    const raw = await warnings(() => new JWTTokenApi(`${dir}/raw`, { secretEncoding: "raw" }));
    assert.equal(raw.length, 1);
    assert.doesNotMatch(raw[0], /--jwt-secret-encoding/);
  }));

Deno.test("--jwt-audience and --jwt-issuer: shared secret, PEM key and JWE", () =>
  withDir(async (dir) => {
    const secret = crypto.getRandomValues(new Uint8Array(32));
    await Deno.writeTextFile(`${dir}/key`, b64url(secret));
    const r = new JWTTokenApi(`${dir}/key`, { audience: "vnc", issuer: "https://idp" });
    const good = { aud: "vnc", iss: "https://idp" };
    assert.deepEqual(await r.lookup(await hs256(secret, good)), target);
    assert.deepEqual(await r.lookup(await hs256(secret, { ...good, aud: ["x", "vnc"] })), target);
    for (
      const bad of [
        { iss: "https://idp" },
        { aud: "other", iss: "https://idp" },
        { aud: "vnc" },
        { aud: "vnc", iss: "https://evil" },
      ]
    ) {
      assert.equal(await r.lookup(await hs256(secret, bad)), null, JSON.stringify(bad));
    }
    // Without the options, aud and iss are not checked (websockify's behaviour).
    const open = new JWTTokenApi(`${dir}/key`);
    assert.deepEqual(await open.lookup(await hs256(secret, { aud: "other" })), target);
    // Only one of them set: only that one is checked.
    const audOnly = new JWTTokenApi(`${dir}/key`, { audience: "vnc" });
    assert.deepEqual(await audOnly.lookup(await hs256(secret, { aud: "vnc" })), target);
    assert.equal(await audOnly.lookup(await hs256(secret, { iss: "x" })), null);

    // A PEM public key.
    const ec = await generateKeyPair("ES256", { extractable: true });
    await Deno.writeTextFile(`${dir}/ec.pem`, await exportSPKI(ec.publicKey));
    const e = new JWTTokenApi(`${dir}/ec.pem`, { audience: "vnc", issuer: "https://idp" });
    const es = (c: Record<string, string>) =>
      new SignJWT({ ...claims, ...c }).setProtectedHeader({ alg: "ES256" }).sign(ec.privateKey);
    assert.deepEqual(await e.lookup(await es(good)), target);
    assert.equal(await e.lookup(await es({ aud: "vnc" })), null);

    // JWE: the claims of the signed token inside are checked.
    const jwe = async (c: Record<string, string>) =>
      await new CompactEncrypt(enc.encode(await hs256(secret, c)))
        .setProtectedHeader({ alg: "dir", enc: "A256GCM" }).encrypt(secret);
    assert.deepEqual(await r.lookup(await jwe(good)), target);
    assert.equal(await r.lookup(await jwe({ aud: "other", iss: "https://idp" })), null);
  }));

Deno.test("JWT key file errors are reported at start", async () => {
  assert.throws(() => new JWTTokenApi("/nonexistent/key"));
  const f = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(f, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
    assert.throws(() => new JWTTokenApi(f), /not a usable key/);
  } finally {
    await Deno.remove(f);
  }
});

Deno.test("JWT settings claims: every setting; exp and expires both kept; misspelt refuses", () =>
  withDir(async (dir) => {
    const secret = crypto.getRandomValues(new Uint8Array(32));
    await Deno.writeFile(`${dir}/key`, secret);
    const r = new JWTTokenApi(`${dir}/key`, { secretEncoding: "raw" });
    const pw = "jwt-Secret-5";
    const exp = now() + 600;
    const expires = now() + 60;
    const full = await hs256(secret, {
      password: pw,
      username: "ann",
      "view_only": true,
      clipboard: "to-client",
      max_duration: 300,
      expires,
      exp,
      iat: now(),
      sub: "user 1",
      name: "Ann", // an application claim: ignored
    });
    const answer = await r.lookupDetail(full);
    assert.deepEqual(answer?.target, target);
    assert.equal(answer?.expiresAt, exp * 1000);
    assert.deepEqual(answer?.settings, {
      password: pw,
      username: "ann",
      viewOnly: true,
      clipboard: "to-client",
      maxDuration: 300,
      expires: answer?.settings?.expires ?? 0,
    });
    assert.ok(answer?.settings?.expires! > now());
    // websockify's claims alone: no settings.
    assert.deepEqual(await r.lookupDetail(await hs256(secret)), { target });
    // The application's user as a username claim without a password: ignored, the token works.
    assert.deepEqual(await r.lookupDetail(await hs256(secret, { username: "ann" })), { target });
    // A misspelt setting or a bad value refuses the token; the log names the claim, not the password.
    const seen: string[] = [];
    const remove = addLogSink((text) => seen.push(text));
    try {
      assert.equal(
        await r.lookupDetail(await hs256(secret, { password: pw, viewOnly: true })),
        null,
      );
      assert.equal(await r.lookupDetail(await hs256(secret, { password: pw, clipboard: 1 })), null);
      // Another case is a misspelling too: VIEW_ONLY must not be a full session.
      assert.equal(
        await r.lookupDetail(await hs256(secret, { password: pw, VIEW_ONLY: true })),
        null,
      );
    } finally {
      remove();
    }
    assert.ok(seen.some((l) => l.includes("did you mean view_only")), seen.join("\n"));
    assert.ok(seen.some((l) => l.includes("clipboard must be one of")), seen.join("\n"));
    assert.ok(!seen.some((l) => l.includes(pw)), seen.join("\n"));
  }));
