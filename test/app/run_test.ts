/**
 * Lifecycle and operations end to end: vncws as a real process with
 * metrics, JSON logs, recording, signals, heartbeats and config files.
 */
import assert from "node:assert/strict";
import {
  freePort,
  MAIN,
  skipUnless,
  startProcess,
  startVncws,
  tempDir,
} from "../../scripts/testing/util.ts";
import { makeCerts, sslOnlyArgs } from "../../scripts/testing/certs.ts";
import { wsConnect } from "../../scripts/testing/ws_client.ts";
import { startEchoTarget, startProxy } from "../../scripts/testing/targets.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const dec = new TextDecoder();

Deno.test({
  name: "--metrics, --log-format json and --record while a session runs",
  ...opts,
  async fn() {
    using dir = tempDir();
    const mport = freePort();
    await using p = await startProxy([
      "--metrics",
      String(mport),
      "--log-format",
      "json",
      "--record",
      `${dir.path}/rec`,
    ]);
    const { port, vncws } = p;
    const ws = await wsConnect(port);
    await ws.readBytes(12);
    await ws.sendBinary("hello it's me");
    await ws.readBytes(13);
    const live = await (await fetch(`http://127.0.0.1:${mport}/sessions.json`)).json();
    assert.equal(live.length, 1);
    assert.equal(live[0].bytesToTarget, 13);
    const m1 = await (await fetch(`http://127.0.0.1:${mport}/metrics`)).text();
    assert.match(m1, /^vncws_sessions_active 1$/m);
    const page = await (await fetch(`http://127.0.0.1:${mport}/`)).text();
    assert.match(page, /127\.0\.0\.1/);
    await ws.sendClose(1000);
    await ws.waitClose();
    ws.close();
    await vncws.waitFor(/"msg":"session end"/);
    const m2 = await (await fetch(`http://127.0.0.1:${mport}/metrics`)).text();
    assert.match(m2, /^vncws_sessions_active 0$/m);
    assert.match(m2, /^vncws_bytes_total\{direction="to_target"\} 13$/m);
    assert.match(m2, /^vncws_bytes_total\{direction="to_client"\} 25$/m);
    assert.match(m2, /^vncws_sessions_total\{outcome="client_closed"\} 1$/m);
    assert.match(m2, /^vncws_target_connect_seconds_count 1$/m);
    const bad = await wsConnect(port, { headers: { "Sec-WebSocket-Version": "1" } });
    bad.close();
    const m3 = await (await fetch(`http://127.0.0.1:${mport}/metrics`)).text();
    assert.match(m3, /^vncws_handshake_failures_total\{status="426"\} 1$/m);
    assert.equal((await fetch(`http://127.0.0.1:${mport}/healthz`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${mport}/readyz`)).status, 200);
    // Every log line is one JSON object; the session end carries the numbers.
    const lines = vncws.output().split("\n").filter((l) => l.startsWith("{"));
    const end = lines.map((l) => JSON.parse(l)).find((o) => o.msg === "session end");
    // Self-describing names in JSON (the text format keeps up=, down=, ms=).
    assert.equal(end.bytes_up, 13);
    assert.equal(end.bytes_down, 25);
    assert.equal(end.close_code, 1000);
    assert.equal(typeof end.duration_ms, "number");
    assert.match(end.client, /^127\.0\.0\.1:\d+$/);
    assert.match(end.target, /^127\.0\.0\.1:\d+$/);
    assert.equal(end.up, undefined);
    // The recording: websockify's format, readable only by its owner.
    const files = [...Deno.readDirSync(dir.path)].map((e) => e.name);
    assert.equal(files.length, 1);
    const rec = `${dir.path}/${files[0]}`;
    assert.equal(Deno.statSync(rec).mode! & 0o777, 0o600);
    for (let i = 0; i < 50 && !Deno.readTextFileSync(rec).includes("'EOF'"); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const text = Deno.readTextFileSync(rec);
    assert.match(text, /^var VNC_frame_data = \[/);
    assert.match(text, /'\}\d+\}hello it\\'s me',/);
    assert.match(text, /'EOF'\];/);
  },
});

Deno.test({
  name: "SIGTERM drains: bytes sent before the signal arrive, then 1001 and exit 0",
  ...opts,
  async fn() {
    await using p = await startProxy(["--drain-timeout", "1"]);
    const { port, vncws } = p;
    const ws = await wsConnect(port);
    await ws.readBytes(12);
    const data = new Uint8Array(200_000).fill(7);
    await ws.sendBinary(data);
    Deno.kill(vncws.pid, "SIGTERM");
    const echoed = await ws.readBytes(data.length);
    assert.deepEqual(echoed, data);
    const close = await ws.waitClose();
    assert.equal(close?.code, 1001);
    ws.close();
    const st = await vncws.status;
    assert.equal(st.code, 0);
  },
});

/**
 * Resolves once the peer of `conn` (on this machine) has read everything sent
 * to it: its socket's receive queue in /proc/net/tcp* is empty.
 */
async function readByPeer(conn: Deno.Conn): Promise<void> {
  const hex = (port: number) => ":" + port.toString(16).toUpperCase().padStart(4, "0");
  const ours = hex((conn.localAddr as Deno.NetAddr).port);
  const theirs = hex((conn.remoteAddr as Deno.NetAddr).port);
  for (let i = 0; i < 200; i++) {
    // A bare-port vncws listens on [::]: its IPv4 clients show up in tcp6.
    const text = ["/proc/net/tcp", "/proc/net/tcp6"].map((f) => Deno.readTextFileSync(f)).join(
      "\n",
    );
    const line = text.split("\n").find((l) => {
      const f = l.trim().split(/\s+/);
      return f[1]?.endsWith(theirs) && f[2]?.endsWith(ours);
    });
    const rx = line ? parseInt(line.trim().split(/\s+/)[4].split(":")[1], 16) : -1;
    if (rx === 0) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("the peer did not read what was sent");
}

Deno.test({
  name: "SIGTERM: a half-sent request head is answered 503 at once, not held until its timeout",
  ...opts,
  async fn() {
    // A head timeout far beyond the test's own limit: only the 503 can end this in time.
    await using p = await startProxy(["--head-timeout", "600"]);
    const { port, vncws } = p;
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("GET /vnc.html HTTP/1.1\r\n"));
    await readByPeer(conn);
    Deno.kill(vncws.pid, "SIGTERM");
    let text = "";
    const buf = new Uint8Array(1024);
    // Liveness bound only: without the fix the answer would come after 600 s.
    const bound = setTimeout(() => Deno.kill(vncws.pid, "SIGKILL"), 20_000);
    try {
      for (let n; (n = await conn.read(buf)) !== null;) text += dec.decode(buf.subarray(0, n));
    } catch { /* reset by the bound */ }
    const st = await vncws.status;
    clearTimeout(bound);
    conn.close();
    assert.match(text, /^HTTP\/1\.1 503 .*vncws is stopping/s);
    assert.equal(st.code, 0);
  },
});

Deno.test({
  name: "SIGTERM with --ssl-only: a TLS handshake under way is ended, not held until its timeout",
  ignore: skipUnless("openssl", "apt-get install openssl"),
  ...opts,
  async fn() {
    const certs = await makeCerts();
    try {
      await using p = await startProxy([...sslOnlyArgs(certs), "--head-timeout", "600"]);
      const { port, vncws } = p;
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(new Uint8Array([0x16, 0x03, 0x01])); // a ClientHello that never ends
      await readByPeer(conn);
      Deno.kill(vncws.pid, "SIGTERM");
      // Liveness bound only: without the fix vncws would wait 600 s for this handshake.
      const bound = setTimeout(() => Deno.kill(vncws.pid, "SIGKILL"), 20_000);
      const st = await vncws.status;
      clearTimeout(bound);
      conn.close();
      assert.equal(st.code, 0, vncws.output());
      assert.match(vncws.output(), /TLS handshake failed: vncws is stopping/);
    } finally {
      await certs.remove();
    }
  },
});

Deno.test({
  name: "--timeout stops accepting, but a connection already accepted is still served",
  ...opts,
  async fn() {
    await using p = await startProxy(["--timeout", "1", "--head-timeout", "600"]);
    const { port, vncws } = p;
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("GET /vnc.html HTTP/1.1\r\n"));
    await readByPeer(conn);
    await vncws.waitFor("stopping");
    await conn.write(new TextEncoder().encode("Host: x\r\n\r\n"));
    let text = "";
    const buf = new Uint8Array(65536);
    for (let n; (n = await conn.read(buf)) !== null;) text += dec.decode(buf.subarray(0, n));
    conn.close();
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.equal((await vncws.status).code, 0);
  },
});

Deno.test({
  name: "SIGHUP reopens --log-file (logrotate) and the session stays up",
  ...opts,
  async fn() {
    using dir = tempDir();
    const log = `${dir.path}/v.log`;
    await using p = await startProxy(["--log-file", log]);
    const { port, vncws } = p;
    const ws = await wsConnect(port);
    await ws.readBytes(12);
    Deno.renameSync(log, `${log}.1`);
    Deno.kill(vncws.pid, "SIGHUP");
    await vncws.waitFor("SIGHUP: reloading");
    await ws.sendBinary("still here");
    assert.equal(dec.decode(await ws.readBytes(10)), "still here");
    await ws.sendClose();
    await ws.waitClose();
    ws.close();
    await vncws.waitFor("session end");
    // stderr and the file are written one after the other: give the file a moment.
    for (let i = 0; i < 20 && !/session end/.test(Deno.readTextFileSync(log)); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(Deno.readTextFileSync(log), /session end/);
    assert.match(Deno.readTextFileSync(`${log}.1`), /listening on/);
  },
});

Deno.test({
  name: "--heartbeat with --ping-timeout closes a peer that stops answering pings",
  ...opts,
  async fn() {
    await using p = await startProxy(["--heartbeat", "0.3", "--ping-timeout", "1"]);
    const { port, vncws } = p;
    // The test client never answers pings: a dead peer as far as vncws can tell.
    const ws = await wsConnect(port);
    let pings = 0;
    let close;
    for (;;) {
      const ev = await ws.next();
      if (ev === null) break;
      if (ev.kind === "ping") pings++;
      if (ev.kind === "close") {
        close = ev;
        break;
      }
    }
    assert.ok(pings >= 1);
    assert.equal(close?.code, 1001);
    ws.close();
    await vncws.waitFor(/session end .*no pong within 1s/);
  },
});

Deno.test({
  name: "--config FILE (TOML): options from the file, the command line wins",
  ...opts,
  async fn() {
    const target = startEchoTarget();
    using dir = tempDir();
    const port = freePort();
    Deno.writeTextFileSync(
      `${dir.path}/vncws.toml`,
      `max-connections = 1\nlog-format = "json"\nverbose = 1\nweb = "none"\n`,
    );
    const vncws = await startVncws([
      "--config",
      `${dir.path}/vncws.toml`,
      "--log-format",
      "text",
      String(port),
      `127.0.0.1:${target.port}`,
    ]);
    try {
      const a = await wsConnect(port);
      assert.equal(a.response.status, 101);
      const b = await wsConnect(port);
      assert.equal(b.response.status, 503); // max-connections = 1 from the file
      a.close();
      b.close();
      await vncws.waitFor("session end"); // the slot is free again
      const r = await fetch(`http://127.0.0.1:${port}/vnc.html`);
      assert.equal(r.status, 405); // web = "none"
      await r.body?.cancel();
      assert.doesNotMatch(vncws.output(), /^\{/m); // text format from the command line
    } finally {
      await vncws.stop();
    }
    const bad = startProcess(Deno.execPath(), [
      "run",
      "-A",
      MAIN,
      "--config",
      "/nonexistent.toml",
      "1",
      "h:1",
    ]);
    assert.equal((await bad.status).code, 2, bad.output());
    await target.close();
  },
});

Deno.test({
  name: "--run-once exits after the first session; --idle-timeout exits when idle",
  ...opts,
  async fn() {
    await using once = await startProxy(["--run-once"]);
    const ws = await wsConnect(once.port);
    await ws.readBytes(12);
    await ws.sendClose();
    await ws.waitClose();
    ws.close();
    assert.equal((await once.vncws.status).code, 0);
    const port2 = freePort();
    const idle = await startVncws([
      String(port2),
      `127.0.0.1:${once.target.port}`,
      "--idle-timeout",
      "1",
    ]);
    assert.equal((await idle.status).code, 0);
    assert.match(idle.output(), /--idle-timeout/);
  },
});

Deno.test({
  name: "--syslog host:port sends RFC 5424 lines over UDP",
  ...opts,
  async fn() {
    const dgram = await import("node:dgram");
    const sock = dgram.createSocket("udp4");
    const got: string[] = [];
    await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
    sock.on("message", (m: Uint8Array) => got.push(new TextDecoder().decode(m)));
    try {
      await using _p = await startProxy(["--syslog", `127.0.0.1:${sock.address().port}`]);
      for (let i = 0; i < 50 && !got.some((l) => l.includes("listening on")); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const line = got.find((l) => l.includes("listening on"));
      assert.ok(line, `no syslog line; got ${JSON.stringify(got)}`);
      // <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG, facility user (1), severity info (6) = 14
      assert.match(line, /^<14>1 \S+ \S+ vncws \d+ - - /);
    } finally {
      sock.close();
    }
  },
});

Deno.test({
  name: "--metrics listener applies --deny-ip like the proxy",
  ...opts,
  async fn() {
    const mport = freePort();
    await using _p = await startProxy(["--metrics", String(mport), "--deny-ip", "127.0.0.0/8"]);
    const r = await fetch(`http://127.0.0.1:${mport}/sessions.json`);
    assert.equal(r.status, 403);
    await r.body?.cancel();
  },
});
