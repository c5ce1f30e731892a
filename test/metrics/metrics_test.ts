import assert from "node:assert/strict";
import {
  createVncwsMetrics,
  escapeHelp,
  escapeLabelValue,
  formatValue,
  Registry,
} from "../../src/metrics/metrics.ts";

Deno.test("metrics: counter, gauge and histogram exposition is byte-exact", () => {
  const r = new Registry();
  const c = r.counter("t_requests_total", "Requests.\nSecond line with \\ backslash", ["code"]);
  c.labels("200").inc();
  c.labels("200").inc(2);
  c.labels('a"b\\c\nd').inc();
  const g = r.gauge("t_active", "Active.").labels();
  g.inc(5);
  g.dec(2);
  const h = r.histogram("t_seconds", "Latency.", [0.1, 1]).labels();
  h.observe(0.05);
  h.observe(0.1); // le is inclusive
  h.observe(0.5);
  h.observe(7);
  assert.equal(
    r.expose(),
    [
      "# HELP t_requests_total Requests.\\nSecond line with \\\\ backslash",
      "# TYPE t_requests_total counter",
      't_requests_total{code="200"} 3',
      't_requests_total{code="a\\"b\\\\c\\nd"} 1',
      "# HELP t_active Active.",
      "# TYPE t_active gauge",
      "t_active 3",
      "# HELP t_seconds Latency.",
      "# TYPE t_seconds histogram",
      't_seconds_bucket{le="0.1"} 2',
      't_seconds_bucket{le="1"} 3',
      't_seconds_bucket{le="+Inf"} 4',
      "t_seconds_sum 7.65",
      "t_seconds_count 4",
      "",
    ].join("\n"),
  );
});

Deno.test("metrics: children are cached, counters never go down, bad names are refused", () => {
  const r = new Registry();
  const f = r.counter("x_total", "X.", ["a", "b"]);
  assert.equal(f.labels("1", "2"), f.labels("1", "2"));
  assert.notEqual(f.labels("1", "2"), f.labels("12", ""));
  f.labels("1", "2").inc(-5);
  assert.equal(f.labels("1", "2").value, 0);
  assert.throws(() => f.labels("1"), /takes 2 label value/);
  assert.throws(() => r.counter("x_total", "again"), /already registered/);
  assert.throws(() => r.counter("bad-name", "x"), /invalid metric name/);
  assert.throws(() => r.gauge("ok", "x", ["__reserved"]), /invalid label name/);
  assert.throws(() => r.histogram("h", "x", [1], ["le"]), /invalid label name/);
  assert.throws(() => r.histogram("h2", "x", [2, 1]), /ascending/);
});

Deno.test("metrics: clear() drops a family's children (label values read anew)", () => {
  const r = new Registry();
  const g = r.gauge("t_expiry", "Expiry.", ["name"]);
  g.labels("old").set(1);
  g.clear();
  g.labels("new").set(2);
  assert.equal(
    r.expose(),
    '# HELP t_expiry Expiry.\n# TYPE t_expiry gauge\nt_expiry{name="new"} 2\n',
  );
});

Deno.test("metrics: escaping and value formatting helpers", () => {
  assert.equal(escapeLabelValue('x"y\\z\n'), 'x\\"y\\\\z\\n');
  assert.equal(escapeHelp('say "hi"\\\n'), 'say "hi"\\\\\\n');
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(1e21), "1e+21");
});

Deno.test("metrics: vncws's named metrics are all exposed with HELP and TYPE", () => {
  const m = createVncwsMetrics();
  m.sessionsActive.inc();
  m.sessionsTotal.labels("target_closed").inc();
  m.bytesToTarget.inc(100);
  m.bytesToClient.inc(2000);
  m.handshakeFailures.labels("403").inc();
  m.targetConnectSeconds.observe(0.003);
  m.wrapRestarts.inc();
  m.tokenLookups.labels("found").inc();
  m.tlsCertNotAfter.labels("a.example", "/tls/a.pem").set(1800000000);
  m.registry.onCollect(() => m.sessionsActive.set(7));
  const text = m.registry.expose();
  for (
    const [name, type] of [
      ["vncws_sessions_active", "gauge"],
      ["vncws_sessions_total", "counter"],
      ["vncws_bytes_total", "counter"],
      ["vncws_handshake_failures_total", "counter"],
      ["vncws_target_connect_seconds", "histogram"],
      ["vncws_wrap_restarts_total", "counter"],
      ["vncws_token_lookups_total", "counter"],
      ["vncws_tls_cert_not_after_seconds", "gauge"],
    ]
  ) {
    assert.match(text, new RegExp(`^# HELP ${name} \\S`, "m"));
    assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, "m"));
  }
  const lines = text.split("\n");
  assert.ok(lines.includes("vncws_sessions_active 7"));
  assert.ok(
    lines.includes(
      'vncws_tls_cert_not_after_seconds{name="a.example",file="/tls/a.pem"} 1800000000',
    ),
  );
  assert.ok(lines.includes('vncws_sessions_total{outcome="target_closed"} 1'));
  assert.ok(lines.includes('vncws_sessions_total{outcome="error"} 0'));
  assert.ok(lines.includes('vncws_bytes_total{direction="to_target"} 100'));
  assert.ok(lines.includes('vncws_bytes_total{direction="to_client"} 2000'));
  assert.ok(lines.includes('vncws_handshake_failures_total{status="403"} 1'));
  assert.ok(lines.includes('vncws_target_connect_seconds_bucket{le="0.0025"} 0'));
  assert.ok(lines.includes('vncws_target_connect_seconds_bucket{le="0.005"} 1'));
  assert.ok(lines.includes("vncws_target_connect_seconds_count 1"));
  assert.ok(lines.includes("vncws_wrap_restarts_total 1"));
  assert.ok(lines.includes('vncws_token_lookups_total{result="found"} 1'));
});
