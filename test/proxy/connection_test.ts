/**
 * The connection pipeline in memory (no sockets, no processes): every
 * refusal goes through the one place — answered as HTTP when the client
 * speaks it, closed otherwise — and is counted once with its kind,
 * including the refusals that used to bypass it (raw admission, TLS without
 * a certificate, plain with --ssl-only, a failed target connect).
 */
import assert from "node:assert/strict";
import { type Refusal, refusal } from "../../src/auth/refusal.ts";
import { defaultConfig } from "../../src/config/config.ts";
import { memoryPair } from "../../src/net/memory_stream.ts";
import { refuse } from "../../src/proxy/refuse.ts";
import { head } from "../auth/_head.ts";
import { context, logged, readAll, route, run, UPGRADE } from "./_pipeline.ts";

Deno.test("refuse: an HTTP answer with status, reason and headers; HEAD without body; counted once", async () => {
  const seen: Refusal[] = [];
  const r = refusal("rate", 429, "slow down", { "Retry-After": "1" });
  let [a, b] = memoryPair();
  await refuse(b, r, { http: true }, { refused: (x) => seen.push(x) });
  b.close();
  const text = await readAll(a);
  assert.match(text, /^HTTP\/1\.1 429 Too Many Requests\r\n/);
  assert.match(text, /\r\nRetry-After: 1\r\n/);
  assert.match(text, /\r\n\r\n429 Too Many Requests: slow down\n$/);
  assert.deepEqual(seen, [r]);
  [a, b] = memoryPair();
  await refuse(b, r, { http: true, head: { ...head("/"), method: "HEAD" } });
  b.close();
  assert.match(await readAll(a), /\r\n\r\n$/, "HEAD gets the head only");
  [a, b] = memoryPair();
  await refuse(b, r, { http: false });
  b.close();
  assert.equal(await readAll(a), "", "a client that does not speak HTTP is just closed");
});

Deno.test("pipeline: a plain client with --ssl-only is closed and counted (tls_required)", async () => {
  const { ctx, refused } = context({
    config: { tls: { ...defaultConfig().tls, sslOnly: true } },
  });
  assert.equal(await run(ctx, UPGRADE), "");
  assert.deepEqual(refused.map((r) => r.kind), ["tls_required"]);
});

Deno.test("pipeline: a TLS ClientHello without --cert is closed and counted (tls_unavailable)", async () => {
  const { ctx, refused } = context();
  assert.equal(await run(ctx, new Uint8Array([0x16, 3, 1, 0, 5])), "");
  assert.deepEqual(refused.map((r) => r.kind), ["tls_unavailable"]);
});

Deno.test("pipeline: a raw client refused by the address lists is closed and counted", async () => {
  const { ctx, refused, opened } = context({
    config: { limits: { ...defaultConfig().limits, rawWait: 0.05 } },
    access: {
      route: () => Promise.resolve(route()),
      rawAllowed: true,
      clientAddress: () => "127.0.0.1",
      routeRaw: () => refusal("ip_denied", 403, "client address not allowed"),
    },
  });
  assert.equal(await run(ctx), "");
  assert.deepEqual(refused.map((r) => r.kind), ["ip_denied"]);
  assert.deepEqual(opened, []);
});

Deno.test("pipeline: a raw client whose target cannot be reached is counted (connect_failed)", async () => {
  const { ctx, refused, opened } = context({
    config: { limits: { ...defaultConfig().limits, rawWait: 0.05 } },
  });
  assert.equal(await run(ctx), "");
  assert.deepEqual(refused.map((r) => [r.kind, r.status]), [["connect_failed", 502]]);
  assert.deepEqual(opened, []);
});

Deno.test("pipeline: routing's refusal is answered as HTTP with its status and headers", async () => {
  const { ctx, refused } = context({
    access: {
      route: () =>
        Promise.resolve(
          refusal("backend_down", 503, "token backend unavailable", { "Retry-After": "5" }),
        ),
      rawAllowed: false,
      clientAddress: () => "127.0.0.1",
      routeRaw: () => route(),
    },
  });
  const text = await run(ctx, UPGRADE);
  assert.match(text, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
  assert.match(text, /\r\nRetry-After: 5\r\n/);
  assert.match(text, /token backend unavailable\n$/);
  assert.deepEqual(refused.map((r) => r.kind), ["backend_down"]);
  // One log line per refusal, naming its kind and reason.
  assert.ok(
    logged.some((l) => /refused .*kind=backend_down .*status=503/.test(l)),
    logged.join("\n"),
  );
});

Deno.test("pipeline: the proxy's own refusals carry their kinds", async () => {
  const cases: Array<[string, string, number]> = [
    ["\x01\x02garbage\r\n\r\n", "bad_request", 400],
    ["GET / HTTP/1.1\r\nHost: x\r\n\r\n", "no_web", 405],
    [UPGRADE.replace("Version: 13", "Version: 1"), "bad_request", 426],
  ];
  for (const [request, kind, status] of cases) {
    const { ctx, refused } = context({
      config: { limits: { ...defaultConfig().limits, rawWait: 0 } },
    });
    const text = await run(ctx, request);
    assert.match(text, new RegExp(`^HTTP/1\\.1 ${status} `), kind);
    assert.deepEqual(refused.map((r) => [r.kind, r.status]), [[kind, status]]);
  }
});

Deno.test("pipeline: an admitted upgrade whose target fails gets 502 and no session", async () => {
  const { ctx, refused, opened } = context();
  const text = await run(ctx, UPGRADE);
  assert.match(text, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
  assert.deepEqual(refused.map((r) => r.kind), ["connect_failed"]);
  assert.deepEqual(opened, []);
});

/** A guard that records failures and bans the addresses in `banned`. */
function guard(banned: string[] = []) {
  const failures: Array<[string, string]> = [];
  return {
    failures,
    guard: {
      check: (address: string) =>
        banned.includes(address)
          ? refusal("banned", 429, "too many failed attempts", { "Retry-After": "7" })
          : null,
      failed: (address: string, r: Refusal) => void failures.push([address, r.kind]),
    },
  };
}

Deno.test("pipeline: a banned address gets 429 with Retry-After before its head is read", async () => {
  const g = guard(["127.0.0.1"]);
  let routed = 0;
  const { ctx, refused } = context({
    guard: g.guard,
    access: {
      route: () => (routed++, Promise.resolve(route())),
      rawAllowed: false,
      routeRaw: () => route(),
      clientAddress: () => "127.0.0.1",
    },
  });
  // Not even a complete head: the ban is answered without waiting for one.
  const text = await run(ctx, "GET /websockify HTTP/1.1\r\n");
  assert.match(text, /^HTTP\/1\.1 429 Too Many Requests\r\n/);
  assert.match(text, /\r\nRetry-After: 7\r\n/);
  assert.equal(routed, 0);
  assert.deepEqual(refused.map((r) => r.kind), ["banned"]);
});

Deno.test("pipeline: an address that is not banned is routed, and its failures are counted", async () => {
  const g = guard(["10.9.9.9"]);
  const { ctx } = context({
    guard: g.guard,
    access: {
      route: () => Promise.resolve(refusal("unknown_token", 404, "unknown or expired token")),
      rawAllowed: false,
      routeRaw: () => route(),
      clientAddress: () => "127.0.0.1",
    },
  });
  assert.match(await run(ctx, UPGRADE), /^HTTP\/1\.1 404 /);
  // A malformed head is a failed attempt too; it counts against the peer.
  assert.match(await run(ctx, "NOT HTTP\r\n\r\n"), /^HTTP\/1\.1 400 /);
  assert.deepEqual(g.failures, [["127.0.0.1", "unknown_token"], ["127.0.0.1", "bad_request"]]);
});

Deno.test("pipeline: behind a trusted proxy the ban is checked for the client its head names", async () => {
  const g = guard(["203.0.113.9"]);
  const { ctx, refused } = context({
    guard: g.guard,
    access: {
      route: () => Promise.resolve(route()),
      rawAllowed: false,
      routeRaw: () => route(),
      // The peer is a trusted proxy: unknown until the head names the client.
      clientAddress: (_client, head) => head ? "203.0.113.9" : undefined,
    },
  });
  assert.match(await run(ctx, UPGRADE), /^HTTP\/1\.1 429 /);
  assert.deepEqual(refused.map((r) => r.kind), ["banned"]);
});

Deno.test("pipeline: a banned raw client is closed without an answer or a route", async () => {
  const g = guard(["127.0.0.1"]);
  let routed = 0;
  const { ctx, refused, opened } = context({
    guard: g.guard,
    config: { limits: { ...defaultConfig().limits, rawWait: 0.05 } },
    access: {
      route: () => Promise.resolve(route()),
      rawAllowed: true,
      routeRaw: () => (routed++, route()),
      clientAddress: () => "127.0.0.1",
    },
  });
  assert.equal(await run(ctx), "");
  assert.equal(routed, 0);
  assert.deepEqual(refused.map((r) => r.kind), ["banned"]);
  assert.deepEqual(opened, []);
});

Deno.test("pipeline: a health check is answered by ctx.health before bans of a named client and the web side", async () => {
  const asked: string[] = [];
  const { ctx, refused } = context({
    // The trusted proxy's head names a banned client: every other request is refused.
    access: {
      route: () => Promise.resolve(route()),
      rawAllowed: false,
      clientAddress: (_c, h) => h ? "203.0.113.9" : undefined,
      routeRaw: () => route(),
    },
    guard: {
      check: (a) => a === "203.0.113.9" ? refusal("banned", 429, "banned") : null,
      failed: () => {},
    },
    web: () => Promise.resolve(refusal("auth_required", 401, "credentials needed")),
    health: (h) => {
      asked.push(`${h.method} ${h.path}`);
      return h.path === "/readyz" ? { status: 503, body: "not ready: stopping\n" } : undefined;
    },
  });
  const ready = await run(ctx, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
  assert.match(
    ready,
    /^HTTP\/1\.1 503 Service Unavailable\r\n[\s\S]*\r\n\r\nnot ready: stopping\n$/,
  );
  const head = await run(ctx, "HEAD /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
  assert.match(head, /^HTTP\/1\.1 503 [\s\S]*\r\n\r\n$/, "HEAD: the head only");
  assert.equal(refused.length, 0, "a health answer is not a refusal");
  // Not a health path: the ban applies as before.
  assert.match(await run(ctx, "GET /vnc.html HTTP/1.1\r\nHost: x\r\n\r\n"), /^HTTP\/1\.1 429 /);
  // An upgrade is never a health check, even on its path.
  assert.match(await run(ctx, UPGRADE.replace("/websockify", "/readyz")), /^HTTP\/1\.1 429 /);
  assert.deepEqual(asked, ["GET /readyz", "HEAD /readyz", "GET /vnc.html"]);
  assert.deepEqual(refused.map((r) => r.kind), ["banned", "banned"]);
});
