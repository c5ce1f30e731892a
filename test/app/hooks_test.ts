/**
 * src/app/hooks.ts through the real router: a `route` hook replaces the
 * token lookup while the checks around it stay (IP lists before it, the
 * target policy and per-token limits after it); `authorize` runs after the
 * auth plugin; a hook that throws is a 500 whose message stays in the log
 * detail; `refuse` accepts only error statuses.
 */
import assert from "node:assert/strict";
import { isRefusal, type Refusal } from "../../src/auth/refusal.ts";
import { parseRequestHead, type RequestHead } from "../../src/http/head.ts";
import type { Target } from "../../src/net/address.ts";
import { createRouter, type Route } from "../../src/route/router.ts";
import { hookRefusal, type ProxyHooks, routerHooks } from "../../src/app/hooks.ts";

function head(target: string): RequestHead {
  return parseRequestHead(
    new TextEncoder().encode(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`),
    { maxHeadBytes: 16384, maxHeaders: 100 },
  );
}

const desk: Target = { kind: "tcp", hostname: "127.0.0.1", port: 5999 };
const client = { peer: "10.0.0.5:4000" };

function router(hooks: ProxyHooks, extra: Record<string, unknown> = {}) {
  return createRouter({ ...routerHooks(hooks), ...extra });
}

Deno.test("route hook: its target is used, with the token it was given; null is 404", async () => {
  const seen: Array<string | undefined> = [];
  const r = await router({
    route: ({ token }) => {
      seen.push(token);
      return token === "a" ? desk : null;
    },
  });
  const ok = await r.route(head("/websockify/a"), client) as Route;
  assert.ok(!isRefusal(ok));
  assert.deepEqual(ok.target, desk);
  assert.ok(ok.label && ok.label !== "a");
  ok.release();
  const no = await r.route(head("/websockify/b"), client) as Refusal;
  assert.equal(no.status, 404);
  assert.deepEqual(seen, ["a", "b"]);
  assert.equal(r.rawAllowed, false);
});

Deno.test("route hook: --deny-ip refuses before it is called; --deny-target and --max-per-token after", async () => {
  let calls = 0;
  const route = () => (calls++, desk);
  const denied = await router({ route }, { denyIp: ["10.0.0.0/8"] });
  assert.equal((await denied.route(head("/websockify/a"), client) as Refusal).kind, "ip_denied");
  assert.equal(calls, 0);
  const policy = await router({ route }, { denyTarget: ["127.0.0.1"] });
  assert.equal(
    (await policy.route(head("/websockify/a"), client) as Refusal).kind,
    "target_denied",
  );
  const limited = await router({ route }, { maxPerToken: 1 });
  const first = await limited.route(head("/websockify/a"), client);
  assert.ok(!isRefusal(first));
  assert.equal((await limited.route(head("/websockify/a"), client) as Refusal).kind, "limit");
  // Another token is its own count.
  assert.ok(!isRefusal(await limited.route(head("/websockify/b"), client)));
});

Deno.test("hooks that throw: 500 internal error, the message only in the log detail", async () => {
  const r = await router({
    authorize: ({ path }) => {
      if (path.endsWith("/x")) throw new Error("db down: secret");
      return null;
    },
    route: () => {
      throw new Error("route broke");
    },
  });
  const a = await r.route(head("/websockify/x"), client) as Refusal;
  assert.deepEqual([a.kind, a.status, a.reason], ["hook", 500, "internal error"]);
  assert.match(a.detail!, /authorize hook threw: db down: secret/);
  const b = await r.route(head("/websockify/y"), client) as Refusal;
  assert.equal(b.reason, "internal error");
  assert.match(b.detail!, /route hook threw: route broke/);
});

Deno.test("authorize hook: a refusal stops the request; null lets the fixed target through", async () => {
  const r = await router(
    { authorize: ({ query }) => query.get("ok") ? null : hookRefusal(401, "log in first") },
    { target: desk },
  );
  const no = await r.route(head("/websockify"), client) as Refusal;
  assert.deepEqual([no.kind, no.status, no.reason], ["hook", 401, "log in first"]);
  assert.ok(!isRefusal(await r.route(head("/websockify?ok=1"), client)));
});

Deno.test("refuse: only 400..599", () => {
  assert.equal(hookRefusal(403, "no").status, 403);
  assert.throws(() => hookRefusal(200, "fine"), RangeError);
  assert.throws(() => hookRefusal(302, "elsewhere"), RangeError);
});
