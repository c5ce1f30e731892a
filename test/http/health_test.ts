import assert from "node:assert/strict";
import { healthAnswer, healthResponse, type Readiness } from "../../src/http/health.ts";
import { parseRequestHead } from "../../src/http/head.ts";

const LIMITS = { maxHeadBytes: 4096, maxHeaders: 20 };
const head = (line: string) =>
  parseRequestHead(new TextEncoder().encode(`${line}\r\nHost: h\r\n\r\n`), LIMITS);
const ready = (): Readiness => ({ ok: true });
const notReady = (): Readiness => ({ ok: false, why: "stopping" });

Deno.test("healthAnswer: /healthz is 200 whatever readiness says; /readyz follows it", () => {
  assert.deepEqual(healthAnswer("/healthz", notReady), { status: 200, body: "ok\n" });
  assert.deepEqual(healthAnswer("/readyz", ready), { status: 200, body: "ready\n" });
  assert.deepEqual(healthAnswer("/readyz", notReady), {
    status: 503,
    body: "not ready: stopping\n",
  });
  assert.deepEqual(healthAnswer("/readyz", () => ({ ok: false })), {
    status: 503,
    body: "not ready: unknown reason\n",
  });
});

Deno.test("healthAnswer: other paths are not health checks", () => {
  for (const p of ["/", "/readyz/", "/readyzz", "/READYZ", "/vnc.html", "/websockify"]) {
    assert.equal(healthAnswer(p, ready), undefined, p);
  }
});

Deno.test("healthResponse: GET and HEAD answer, with the query ignored; no-store text", () => {
  const get = healthResponse(head("GET /readyz?from=haproxy HTTP/1.1"), notReady)!;
  assert.equal(get.status, 503);
  assert.equal(get.body, "not ready: stopping\n");
  assert.equal(get.headers?.["Cache-Control"], "no-store");
  assert.match(get.headers?.["Content-Type"] ?? "", /^text\/plain/);
  assert.equal(healthResponse(head("HEAD /healthz HTTP/1.0"), notReady)?.status, 200);
});

Deno.test("healthResponse: other methods and paths go on to the web side", () => {
  assert.equal(healthResponse(head("POST /readyz HTTP/1.1"), ready), undefined);
  assert.equal(healthResponse(head("OPTIONS /healthz HTTP/1.1"), ready), undefined);
  assert.equal(healthResponse(head("GET /vnc.html HTTP/1.1"), ready), undefined);
});
