import assert from "node:assert/strict";
import { sumExpositions } from "../../src/metrics/aggregate.ts";
import { createVncwsMetrics } from "../../src/metrics/metrics.ts";

Deno.test("sumExpositions: counters, gauges and histograms add up; same-valued families do not", () => {
  const a = createVncwsMetrics();
  const b = createVncwsMetrics();
  a.sessionsActive.set(3);
  b.sessionsActive.set(4);
  a.bytesToClient.inc(100);
  b.bytesToClient.inc(23);
  a.targetConnectSeconds.observe(0.002);
  b.targetConnectSeconds.observe(20);
  b.handshakeFailures.labels("429").inc(2); // a series only one process has
  a.bansActive.set(5);
  b.bansActive.set(5);
  a.tlsCertNotAfter.labels("a.example", "/c a.pem").set(1e9);
  b.tlsCertNotAfter.labels("a.example", "/c a.pem").set(1e9);
  const sum = sumExpositions([a.registry.expose(), b.registry.expose()]);
  assert.match(sum, /^vncws_sessions_active 7$/m);
  assert.match(sum, /^vncws_bytes_total\{direction="to_client"\} 123$/m);
  assert.match(sum, /^vncws_handshake_failures_total\{status="429"\} 2$/m);
  assert.match(sum, /^vncws_target_connect_seconds_bucket\{le="0.0025"\} 1$/m);
  assert.match(sum, /^vncws_target_connect_seconds_bucket\{le="\+Inf"\} 2$/m);
  assert.match(sum, /^vncws_target_connect_seconds_count 2$/m);
  // Host-wide values are not counted twice (negative case of the sum).
  assert.match(sum, /^vncws_bans_active 5$/m);
  assert.match(
    sum,
    /^vncws_tls_cert_not_after_seconds\{name="a.example",file="\/c a.pem"\} 1000000000$/m,
  );
  assert.equal(sum.match(/^# HELP vncws_sessions_active /gm)?.length, 1);
  assert.equal(sum.match(/^# TYPE vncws_sessions_active gauge$/gm)?.length, 1);
  // One process: its own text, unchanged.
  assert.equal(sumExpositions([a.registry.expose()]), a.registry.expose());
});
