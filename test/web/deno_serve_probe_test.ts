/**
 * The route probe in Deno.serve mode (`vncwsHandler`): a real Deno.serve
 * app asked with fetch gets the route's decision as JSON, with nothing
 * connected; without the header a plain GET is still refused with 426.
 */
import assert from "node:assert/strict";
import { refusal } from "../../src/auth/refusal.ts";
import type { Refusal } from "../../src/auth/refusal.ts";
import { type RouteAnswer, vncwsHandler } from "../../src/web/deno_serve.ts";
import { startEchoTarget } from "../../scripts/testing/targets.ts";

Deno.test("Deno.serve: a probe gets the route's answer as JSON and connects nothing", async () => {
  const target = startEchoTarget();
  const refused: Refusal[] = [];
  let asked = 0;
  const answers: Record<string, RouteAnswer> = {
    good: { kind: "tcp", hostname: "127.0.0.1", port: target.port },
    busy: refusal("limit", 429, "too many sessions", { "Retry-After": "3" }),
    none: null,
  };
  const handler = vncwsHandler({
    route: (req) => (asked++, answers[new URL(req.url).searchParams.get("token") ?? ""] ?? null),
    onRefused: (r) => void refused.push(r),
  });
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  const url = (token: string) => `http://127.0.0.1:${server.addr.port}/websockify?token=${token}`;
  const probe = (token: string) => fetch(url(token), { headers: { "X-Vncws-Probe": "1" } });
  try {
    const ok = await probe("good");
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { ok: true });
    assert.equal(target.received(), 0);

    const busy = await probe("busy");
    assert.equal(busy.status, 429);
    assert.equal(busy.headers.get("retry-after"), "3");
    assert.deepEqual(await busy.json(), { ok: false, status: 429, reason: "too many sessions" });

    const none = await probe("none");
    assert.equal(none.status, 404);
    assert.deepEqual(await none.json(), {
      ok: false,
      status: 404,
      reason: "no target for this request",
    });
    assert.deepEqual(refused.map((r) => r.kind), ["limit", "no_target"]);
    assert.equal(asked, 3);

    // Without the header: 426 as before, and the route is not asked.
    const plain = await fetch(url("good"));
    assert.equal(plain.status, 426);
    assert.match(await plain.text(), /^426 Upgrade Required: /);
    assert.equal(asked, 3);
  } finally {
    await target.close();
  }
});
