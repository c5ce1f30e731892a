/**
 * JWTTokenApi with a JSON Web Key Set URL, against a real HTTP server on
 * loopback that counts its hits. The key set's clock is stepped by hand, so
 * cooldowns are tested without waiting or timing.
 */
import assert from "node:assert/strict";
import { CompactEncrypt, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { captureWarnings } from "../../scripts/testing/util.ts";
import { TokenBackendError } from "../../src/route/resolver.ts";
import { JWTTokenApi } from "../../src/route/token_jwt.ts";
import { jwksUrl } from "../../src/route/token_jwks.ts";
import { listenTcp } from "../../scripts/testing/targets.ts";

const claims = { host: "127.0.0.1", port: 5901 };
const target = { kind: "tcp", hostname: "127.0.0.1", port: 5901 };

interface Signer {
  kid: string;
  jwk: JWK;
  sign(extra?: Record<string, unknown>): Promise<string>;
}

async function signer(kid: string): Promise<Signer> {
  const pair = await generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await exportJWK(pair.publicKey)), kid, alg: "ES256", use: "sig" };
  return {
    kid,
    jwk,
    sign: (extra = {}) =>
      new SignJWT({ ...claims, ...extra }).setProtectedHeader({ alg: "ES256", kid })
        .sign(pair.privateKey),
  };
}

/** A JWKS server on 127.0.0.1: what it serves can change; it counts requests. */
function jwksServer() {
  const state = {
    hits: 0,
    status: 200,
    body: JSON.stringify({ keys: [] as JWK[] }),
    headers: {} as Record<string, string>,
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    state.hits++;
    return new Response(state.body, {
      status: state.status,
      headers: { "content-type": "application/json", ...state.headers },
    });
  });
  return {
    state,
    url: `http://127.0.0.1:${server.addr.port}/jwks.json`,
    serve(keys: JWK[]) {
      state.status = 200;
      state.body = JSON.stringify({ keys });
    },
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** The warnings logged while `fn` runs, one text. */
async function warnings(fn: () => unknown): Promise<string> {
  return (await captureWarnings(fn)).join("\n");
}

/** A clock in seconds that the test moves. */
function manualClock() {
  const c = { t: 1000, now: () => c.t * 1000 };
  return c;
}

Deno.test("JWKS: the token's kid picks the key; an unknown kid fetches again once", async () => {
  await using srv = jwksServer();
  const a = await signer("a");
  const b = await signer("b");
  srv.serve([a.jwk, b.jwk]);
  const clock = manualClock();
  const r = new JWTTokenApi(srv.url, { jwks: { now: clock.now } });
  await r.ready();
  assert.equal(srv.state.hits, 1, "fetched at start");
  assert.deepEqual(await r.lookup(await a.sign()), target);
  assert.deepEqual(await r.lookup(await b.sign()), target);
  assert.equal(srv.state.hits, 1, "cached");

  // A kid the set lacks: one fetch (the cooldown after the start fetch has passed)…
  const stranger = await signer("c");
  clock.t += 31;
  assert.equal(await r.lookup(await stranger.sign()), null);
  assert.equal(srv.state.hits, 2);
  // …and no more within the cooldown, however many such tokens come.
  for (let i = 0; i < 20; i++) assert.equal(await r.lookup(await stranger.sign()), null);
  assert.equal(srv.state.hits, 2);

  // A known kid with a forged signature is refused without a fetch.
  const forger = await generateKeyPair("ES256");
  const forged = await new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: "a" })
    .sign(forger.privateKey);
  clock.t += 31;
  assert.equal(await r.lookup(forged), null);
  // HS256 (a public key's bytes as an HMAC secret) and JWE are refused too.
  const hs = await new SignJWT(claims).setProtectedHeader({ alg: "HS256", kid: "a" })
    .sign(new TextEncoder().encode(JSON.stringify(a.jwk)));
  assert.equal(await r.lookup(hs), null);
  const jwe = await new CompactEncrypt(new TextEncoder().encode(await a.sign()))
    .setProtectedHeader({ alg: "dir", enc: "A256GCM" }).encrypt(new Uint8Array(32));
  assert.equal(await r.lookup(jwe), null);
  assert.equal(srv.state.hits, 2, "none of these fetched the set");
  // Expired tokens from a known key are refused.
  assert.equal(await r.lookup(await a.sign({ exp: Math.floor(Date.now() / 1000) - 600 })), null);
});

Deno.test("JWKS: a rotated key is picked up once the cooldown has passed", async () => {
  await using srv = jwksServer();
  const old = await signer("2025");
  const next = await signer("2026");
  srv.serve([old.jwk]);
  const clock = manualClock();
  const r = new JWTTokenApi(srv.url, { jwks: { now: clock.now } });
  assert.deepEqual(await r.lookup(await old.sign()), target);
  srv.serve([next.jwk]); // the provider rotates
  clock.t += 10;
  assert.equal(await r.lookup(await next.sign()), null, "within the cooldown: not fetched yet");
  assert.equal(srv.state.hits, 1);
  clock.t += 21; // 31 s after the start fetch
  assert.deepEqual(await r.lookup(await next.sign()), target);
  assert.equal(srv.state.hits, 2);
  // The old key is gone from the set: its tokens are refused (no fetch: cooling down).
  assert.equal(await r.lookup(await old.sign()), null);
  assert.equal(srv.state.hits, 2);
});

Deno.test("JWKS: a flood of unknown kids costs one fetch, concurrent lookups share it", async () => {
  await using srv = jwksServer();
  const known = await signer("k");
  srv.serve([known.jwk]);
  const clock = manualClock();
  const r = new JWTTokenApi(srv.url, { jwks: { now: clock.now } });
  await r.ready();
  clock.t += 60;
  const strangers = await Promise.all(Array.from({ length: 10 }, (_, i) => signer(`x${i}`)));
  const tokens = await Promise.all(strangers.flatMap((s) => [s.sign(), s.sign(), s.sign()]));
  const results = await Promise.all(tokens.map((t) => r.lookup(t)));
  assert.ok(results.every((x) => x === null));
  assert.equal(srv.state.hits, 2, "one fetch for the whole flood");
  // One after another, within the cooldown: no fetch at all.
  for (const t of tokens) assert.equal(await r.lookup(t), null);
  assert.equal(srv.state.hits, 2, "none for the same flood one by one");
  assert.deepEqual(await r.lookup(await known.sign()), target);
  assert.equal(srv.state.hits, 2);
});

Deno.test("JWKS down at start: a warning, 503 while no set, then keys after the retry wait", async () => {
  await using srv = jwksServer();
  const k = await signer("k");
  srv.state.status = 500;
  const clock = manualClock();
  const r = new JWTTokenApi(srv.url, { jwks: { now: clock.now } });
  assert.match(await warnings(() => r.ready()), /JWKS fetch failed.*answered status 500/);
  assert.equal(srv.state.hits, 1);
  // No set: the backend is down (the router answers 503), and a flood does not fetch.
  const token = await k.sign();
  const tries = await Promise.allSettled(Array.from({ length: 20 }, () => r.lookup(token)));
  for (const t of tries) {
    assert.equal(t.status, "rejected");
    assert.ok((t as PromiseRejectedResult).reason instanceof TokenBackendError);
    assert.match((t as PromiseRejectedResult).reason.message, /unavailable: answered status 500/);
  }
  assert.equal(srv.state.hits, 1, "no fetch within the retry wait");
  srv.serve([k.jwk]);
  clock.t += 6;
  assert.deepEqual(await r.lookup(token), target);
  assert.equal(srv.state.hits, 2);
});

Deno.test("JWKS: a stale set is fetched again; if that fails the old set stays in use", async () => {
  await using srv = jwksServer();
  const k = await signer("k");
  srv.serve([k.jwk]);
  const clock = manualClock();
  const r = new JWTTokenApi(srv.url, { jwks: { now: clock.now } });
  assert.deepEqual(await r.lookup(await k.sign()), target);
  clock.t += 601;
  srv.state.status = 503;
  assert.deepEqual(await r.lookup(await k.sign()), target, "old set kept");
  assert.equal(srv.state.hits, 2);
  assert.deepEqual(await r.lookup(await k.sign()), target);
  assert.equal(srv.state.hits, 2, "the failed refresh waits before the next try");
  // The provider drops the key: after the retry wait the fresh set no longer has it.
  srv.serve([]);
  clock.t += 6;
  assert.equal(await r.lookup(await k.sign()), null);
  assert.equal(srv.state.hits, 3);
});

Deno.test("JWKS: keys without kid: each fitting key is tried", async () => {
  await using srv = jwksServer();
  const pairs = await Promise.all(
    [1, 2, 3].map(() => generateKeyPair("ES256", { extractable: true })),
  );
  srv.serve(await Promise.all(pairs.slice(0, 2).map((p) => exportJWK(p.publicKey))));
  const r = new JWTTokenApi(srv.url);
  const sign = (key: CryptoKey) =>
    new SignJWT(claims).setProtectedHeader({ alg: "ES256" }).sign(key);
  assert.deepEqual(await r.lookup(await sign(pairs[0].privateKey)), target);
  assert.deepEqual(await r.lookup(await sign(pairs[1].privateKey)), target);
  assert.equal(await r.lookup(await sign(pairs[2].privateKey)), null, "a key not in the set");
  assert.equal(srv.state.hits, 1);
});

Deno.test("JWKS: audience and issuer are checked for key set tokens too", async () => {
  await using srv = jwksServer();
  const k = await signer("k");
  srv.serve([k.jwk]);
  const r = new JWTTokenApi(srv.url, { audience: "vnc", issuer: "https://idp" });
  assert.deepEqual(await r.lookup(await k.sign({ aud: "vnc", iss: "https://idp" })), target);
  assert.equal(await r.lookup(await k.sign({ aud: "web", iss: "https://idp" })), null);
  assert.equal(await r.lookup(await k.sign({ aud: "vnc", iss: "https://other" })), null);
  assert.equal(await r.lookup(await k.sign()), null);
});

Deno.test("JWKS answers that are not a key set: redirect, not JSON, too large, no answer", async () => {
  await using srv = jwksServer();
  const k = await signer("k");
  const failure = (url = srv.url, timeout?: number) =>
    warnings(() => new JWTTokenApi(url, { timeout }).ready());
  srv.state.status = 302;
  srv.state.headers = { location: "https://elsewhere.example/jwks.json" };
  assert.match(await failure(), /status 302 \(redirects are not followed: give the final URL\)/);
  srv.state.headers = {};
  srv.state.status = 200;
  srv.state.body = "<html>";
  assert.match(await failure(), /not JSON/);
  srv.state.body = JSON.stringify({ keys: "no" });
  assert.match(await failure(), /JSON Web Key Set malformed/);
  srv.state.body = JSON.stringify({ keys: [k.jwk], pad: "x".repeat(1100 * 1024) });
  assert.match(await failure(), /larger than 1048576 bytes/);
  // A server that accepts and never answers: the token timeout ends the fetch.
  const silent = listenTcp();
  try {
    const url = `http://127.0.0.1:${silent.port}/jwks.json`;
    assert.match(await failure(url, 0.2), /no answer within 0.2 s/);
  } finally {
    await silent.close();
  }
  // Query strings (which may hold a credential) stay out of the log.
  srv.state.status = 500;
  const logged = await failure(`${srv.url}?api_key=s3cret`);
  assert.match(logged, /status 500/);
  assert.ok(!logged.includes("s3cret"), logged);
});

Deno.test("JWKS URLs: https anywhere, plain http only on loopback", () => {
  assert.equal(jwksUrl("/etc/vncws/key.pem"), undefined);
  assert.equal(jwksUrl("key"), undefined);
  assert.ok(jwksUrl("https://idp.example/.well-known/jwks.json"));
  for (const local of ["http://127.0.0.1:8080/j", "http://localhost/j", "http://[::1]:9/j"]) {
    assert.ok(jwksUrl(local), local);
  }
  for (const remote of ["http://10.0.0.1/jwks", "http://idp.example/jwks", "http://[::2]/j"]) {
    assert.throws(() => jwksUrl(remote), /use https:\/\//, remote);
  }
  assert.throws(() => jwksUrl("https://"), /not a URL/);
});
