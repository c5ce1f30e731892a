import assert from "node:assert/strict";
import { createVncwsMetrics } from "../../src/metrics/metrics.ts";
import {
  countingHooks,
  formatAge,
  formatBytes,
  SessionTable,
  startOpsServer,
} from "../../src/metrics/ops_server.ts";
import { escapeHtml } from "../../src/base/text.ts";

Deno.test("ops server: /metrics, /healthz, /readyz, /, /sessions.json over HTTP", async () => {
  const m = createVncwsMetrics();
  const table = new SessionTable();
  let ready = { ok: false, why: "wrapped server not listening yet" };
  m.registry.onCollect(() => m.sessionsActive.set(table.size));
  const ops = await startOpsServer({
    hostname: "127.0.0.1",
    port: 0,
    metrics: m.registry,
    ready: () => ready,
    sessions: () => table.list(),
  });
  const base = `http://127.0.0.1:${ops.addr.port}`;
  try {
    // A live session whose bytes move while we scrape.
    const s = table.add({
      id: 4,
      client: "10.0.0.1:5000",
      target: "<script>alert(1)</script>:5900",
      started: Date.now() - 65_000,
    });
    const hooks = countingHooks(s);
    hooks.fromClient(new Uint8Array(12));
    hooks.toClient(new Uint8Array(3000));
    m.bytesToClient.inc(3000);

    let r = await fetch(`${base}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    const metrics = await r.text();
    assert.ok(metrics.split("\n").includes("vncws_sessions_active 1"), metrics);
    assert.ok(metrics.split("\n").includes('vncws_bytes_total{direction="to_client"} 3000'));

    r = await fetch(`${base}/healthz`);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), "ok\n");

    r = await fetch(`${base}/readyz`);
    assert.equal(r.status, 503);
    assert.equal(await r.text(), "not ready: wrapped server not listening yet\n");
    ready = { ok: true, why: "" };
    r = await fetch(`${base}/readyz`);
    assert.equal(r.status, 200);
    await r.body?.cancel();

    r = await fetch(`${base}/sessions.json`);
    const list = await r.json();
    assert.equal(list.length, 1);
    assert.equal(list[0].id, 4);
    assert.equal(list[0].bytesToTarget, 12);
    assert.equal(list[0].bytesToClient, 3000);
    assert.ok(list[0].ageSeconds >= 65);

    r = await fetch(`${base}/`);
    assert.equal(r.status, 200);
    const html = await r.text();
    assert.match(html, /http-equiv="refresh"/);
    assert.match(html, /1 live session</);
    assert.match(html, /10\.0\.0\.1:5000/);
    assert.ok(!html.includes("<script>"), "target must be escaped");
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;:5900/);
    assert.match(html, /2\.9 KiB/);

    table.remove(4);
    r = await fetch(`${base}/`);
    assert.match(await r.text(), /No live sessions/);

    r = await fetch(`${base}/nope`);
    assert.equal(r.status, 404);
    await r.body?.cancel();
    r = await fetch(`${base}/metrics`, { method: "POST" });
    assert.equal(r.status, 405);
    await r.body?.cancel();
  } finally {
    await ops.close();
  }
  await assert.rejects(fetch(`${base}/healthz`));
});

Deno.test("ops server: guard refuses requests", async () => {
  const m = createVncwsMetrics();
  const ops = await startOpsServer({
    hostname: "127.0.0.1",
    port: 0,
    metrics: m.registry,
    ready: () => ({ ok: true }),
    sessions: () => [],
    guard: (req, remote) =>
      new URL(req.url).pathname === "/metrics"
        ? undefined
        : new Response(`forbidden for ${remote.hostname}\n`, { status: 403 }),
  });
  try {
    let r = await fetch(`http://127.0.0.1:${ops.addr.port}/`);
    assert.equal(r.status, 403);
    assert.equal(await r.text(), "forbidden for 127.0.0.1\n");
    r = await fetch(`http://127.0.0.1:${ops.addr.port}/metrics`);
    assert.equal(r.status, 200);
    await r.body?.cancel();
  } finally {
    await ops.close();
  }
});

Deno.test("ops server: a port in use is an error", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await assert.rejects(
      startOpsServer({
        hostname: "127.0.0.1",
        port: (l.addr as Deno.NetAddr).port,
        metrics: createVncwsMetrics().registry,
        ready: () => ({ ok: true }),
        sessions: () => [],
      }),
      Deno.errors.AddrInUse,
    );
  } finally {
    l.close();
  }
});

Deno.test("ops server: formatting helpers and the session table", () => {
  assert.equal(
    escapeHtml(`<a href="x">'&'</a>`),
    "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;",
  );
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(5 * 1024 * 1024), "5.0 MiB");
  assert.equal(formatAge(5), "5s");
  assert.equal(formatAge(125), "2m 5s");
  assert.equal(formatAge(3725), "1h 2m 5s");
  const t = new SessionTable();
  const rec: string[] = [];
  const s = t.add({ id: 1, client: "c", target: "t", started: 0 });
  const h = countingHooks(s, {
    fromClient: (d) => rec.push(`up ${d.length}`),
    toClient: (d) => rec.push(`down ${d.length}`),
  });
  h.fromClient(new Uint8Array(2));
  h.toClient(new Uint8Array(5));
  assert.deepEqual(rec, ["up 2", "down 5"]);
  t.update(1, { bytesToClient: 99 });
  t.update(42, { bytesToClient: 1 });
  assert.deepEqual(t.list(), [{
    id: 1,
    client: "c",
    target: "t",
    started: 0,
    bytesToTarget: 2,
    bytesToClient: 99,
  }]);
  // list() returns copies: changing them does not change the table.
  t.list()[0].bytesToTarget = 1000;
  assert.equal(t.list()[0].bytesToTarget, 2);
});
