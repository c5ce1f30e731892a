/**
 * The route probe in memory: which requests are probes, the JSON forms of
 * its answers (refuse.ts), and the pipeline: the upgrade's route step,
 * the route released at once, nothing connected, refusals in JSON and
 * counted toward a ban.
 */
import assert from "node:assert/strict";
import { type Refusal, refusal } from "../../src/auth/refusal.ts";
import { configureLog } from "../../src/base/log.ts";
import { defaultConfig } from "../../src/config/config.ts";
import { isProbeRequest, probeInFirstBytes } from "../../src/proxy/probe.ts";
import { probeAdmitted, refusalHttp } from "../../src/proxy/refuse.ts";
import type { Route } from "../../src/route/router.ts";
import { parseRequestHead } from "../../src/http/head.ts";
import { context, logged, route, run, UPGRADE } from "./_pipeline.ts";

const enc = new TextEncoder();
const LIMITS = defaultConfig().limits;
/** A request head with `headers`. */
function head(headers: Record<string, string>, method = "GET") {
  let text = `${method} /websockify HTTP/1.1\r\nHost: x\r\n`;
  for (const [k, v] of Object.entries(headers)) text += `${k}: ${v}\r\n`;
  return parseRequestHead(enc.encode(text + "\r\n"), LIMITS);
}

const PROBE = "GET /websockify?token=t HTTP/1.1\r\nHost: x\r\nX-Vncws-Probe: 1\r\n\r\n";

Deno.test("probe: a GET or HEAD with X-Vncws-Probe: 1 and no upgrade", () => {
  assert.equal(isProbeRequest(head({ "X-Vncws-Probe": "1" })), true);
  assert.equal(isProbeRequest(head({ "X-Vncws-Probe": " 1 " }, "HEAD")), true);
  assert.equal(isProbeRequest(head({})), false);
  assert.equal(isProbeRequest(head({ "X-Vncws-Probe": "0" })), false);
  assert.equal(isProbeRequest(head({ "X-Vncws-Probe": "1" }, "POST")), false);
  assert.equal(isProbeRequest(head({ "X-Vncws-Probe": "1", Upgrade: "websocket" })), false);
});

Deno.test("probe: found in the first bytes only when its whole head is there", () => {
  assert.equal(probeInFirstBytes(enc.encode(PROBE), LIMITS), true);
  assert.equal(probeInFirstBytes(enc.encode(PROBE.slice(0, 40)), LIMITS), false);
  assert.equal(probeInFirstBytes(enc.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), LIMITS), false);
  assert.equal(probeInFirstBytes(enc.encode("\x00\x01garbage\r\n\r\n"), LIMITS), false);
});

Deno.test("refuse: a probe's refusal is JSON with its status and headers; the plain form stays text", () => {
  const r = refusal("rate", 429, "too many", { "Retry-After": "1" });
  const json = refusalHttp(r, true);
  assert.equal(json.status, 429);
  assert.equal(json.headers?.["Retry-After"], "1");
  assert.equal(json.headers?.["Content-Type"], "application/json; charset=utf-8");
  assert.equal(json.headers?.["Cache-Control"], "no-store");
  assert.deepEqual(JSON.parse(json.body as string), { ok: false, status: 429, reason: "too many" });
  const text = refusalHttp(r);
  assert.equal(text.headers?.["Content-Type"], "text/plain; charset=utf-8");
  assert.equal(text.body, "429 Too Many Requests: too many\n");
  assert.deepEqual(JSON.parse(probeAdmitted(false).body as string), { ok: true });
  assert.deepEqual(JSON.parse(probeAdmitted(true).body as string), { ok: true, viewOnly: true });
});

/** A context whose route answers `answer` and counts routes, releases and failures. */
function probeContext(answer: () => Route | Refusal, banned = false) {
  const counts = { routed: 0, released: 0 };
  const failures: string[] = [];
  const fixture = context({
    guard: {
      check: () =>
        banned ? refusal("banned", 429, "too many failed attempts", { "Retry-After": "9" }) : null,
      failed: (_address, r) => void failures.push(r.kind),
    },
    access: {
      route: () => {
        counts.routed++;
        const a = answer();
        if ("target" in a) return Promise.resolve({ ...a, release: () => void counts.released++ });
        return Promise.resolve(a);
      },
      rawAllowed: false,
      routeRaw: () => route(),
      clientAddress: () => "127.0.0.1",
    },
  });
  return { ...fixture, counts, failures };
}

function body(response: string): unknown {
  return JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4));
}

Deno.test("pipeline: an admitted probe is 200 {ok:true}, its route released at once, nothing connected", async () => {
  const { ctx, counts, opened, failures } = probeContext(() => route());
  configureLog({ verbose: 1 });
  const text = await run(ctx, PROBE).finally(() => configureLog({ verbose: 0 }));
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.deepEqual(body(text), { ok: true });
  assert.deepEqual(counts, { routed: 1, released: 1 });
  assert.deepEqual(opened, []);
  assert.deepEqual(failures, []);
  assert.ok(logged.some((l) => /http .*status=200 probe=true/.test(l)), logged.join("\n"));
  // A view-only route says so.
  const viewOnly = probeContext(() => ({
    ...route(),
    rfb: { viewOnly: true, clipboard: "both" },
  }));
  assert.deepEqual(body(await run(viewOnly.ctx, PROBE)), { ok: true, viewOnly: true });
});

Deno.test("pipeline: a refused probe gets the refusal's status and headers in JSON and counts toward a ban", async () => {
  const { ctx, counts, failures, refused } = probeContext(() =>
    refusal("unknown_token", 404, "unknown or expired token")
  );
  const text = await run(ctx, PROBE);
  assert.match(text, /^HTTP\/1\.1 404 Not Found\r\n/);
  assert.deepEqual(body(text), { ok: false, status: 404, reason: "unknown or expired token" });
  assert.deepEqual(counts, { routed: 1, released: 0 });
  assert.deepEqual(failures, ["unknown_token"]);
  assert.deepEqual(refused.map((r) => r.kind), ["unknown_token"]);
  // The same refusal of an upgrade counts the same, answered as text.
  const upgrade = await run(ctx, UPGRADE);
  assert.match(upgrade, /^HTTP\/1\.1 404 [^]*\r\n\r\n404 Not Found: unknown or expired token\n$/);
  assert.deepEqual(failures, ["unknown_token", "unknown_token"]);
});

Deno.test("pipeline: a banned peer's probe is refused in JSON before routing; a plain GET as text", async () => {
  const { ctx, counts } = probeContext(() => route(), true);
  const text = await run(ctx, PROBE);
  assert.match(text, /^HTTP\/1\.1 429 [^]*\r\nRetry-After: 9\r\n/);
  assert.deepEqual(body(text), { ok: false, status: 429, reason: "too many failed attempts" });
  assert.equal(counts.routed, 0);
  const plain = await run(ctx, "GET /websockify HTTP/1.1\r\nHost: x\r\n\r\n");
  assert.match(plain, /\r\n\r\n429 Too Many Requests: too many failed attempts\n$/);
});

Deno.test("pipeline: a GET without the header is a plain web request, not routed", async () => {
  const { ctx, counts } = probeContext(() => route());
  const text = await run(ctx, "GET /websockify?token=t HTTP/1.1\r\nHost: x\r\n\r\n");
  assert.match(text, /^HTTP\/1\.1 405 /); // no web handler in this context
  assert.equal(counts.routed, 0);
});
