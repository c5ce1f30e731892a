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
import { JWTTokenApi } from "../../src/route/token_jwt.ts";

const now = () => Math.floor(Date.now() / 1000);
const claims = { host: "127.0.0.1", port: 5901 };
const target = { kind: "tcp", hostname: "127.0.0.1", port: 5901 };

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("JWT HS256 with a raw secret file (bytes as written, newline included)", () =>
  withDir(async (dir) => {
    const secretText = "correct horse battery staple\n";
    await Deno.writeTextFile(`${dir}/key`, secretText);
    const r = new JWTTokenApi(`${dir}/key`);
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
    const secret = new TextEncoder().encode("s3cret");
    await Deno.writeFile(`${dir}/key`, secret);
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
    await Deno.writeFile(`${dir}/key`, secret);
    const r = new JWTTokenApi(`${dir}/key`);
    const inner = await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(secret);
    const jwe = await new CompactEncrypt(new TextEncoder().encode(inner))
      .setProtectedHeader({ alg: "dir", enc: "A256GCM" }).encrypt(secret);
    assert.deepEqual(await r.lookup(jwe), target);
    // Rotate the key file: old tokens stop working, new ones work.
    const next = crypto.getRandomValues(new Uint8Array(33));
    await Deno.writeFile(`${dir}/key`, next);
    assert.equal(await r.lookup(inner), null);
    const fresh = await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(next);
    assert.deepEqual(await r.lookup(fresh), target);
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
