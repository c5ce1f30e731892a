/**
 * `--workers` end to end: a parent and its relay processes as real
 * processes, real WebSocket sessions through them. The kernel spreads
 * connections by a hash of their addresses, so the tests open more until
 * both workers served some; they never assert shares or timings.
 */
import assert from "node:assert/strict";
import { freePort, type Proc, PYTHON, skipUnless, startVncws } from "../../scripts/testing/util.ts";
import { tcpListeners } from "../../src/base/procfs.ts";
import { socketOwners } from "../../src/wrap/proc.ts";
import { type TestWs, wsConnect } from "../../scripts/testing/ws_client.ts";
import { startProxy } from "../../scripts/testing/targets.ts";
import { parseCommandLine, UsageError } from "../../src/cli/cli.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const enc = new TextEncoder();
/** The parent's line once every worker listens. */
const READY = /listening on \S+ workers=2/;

/** One echo round trip on a session (the target sent its 12-byte banner first). */
async function echo(ws: TestWs, text: string): Promise<void> {
  await ws.sendBinary(text);
  assert.equal(new TextDecoder().decode(await ws.readBytes(text.length)), text);
}

/** Opens `n` sessions and reads each one's banner. */
async function openSessions(port: number, n: number): Promise<TestWs[]> {
  const out: TestWs[] = [];
  for (let i = 0; i < n; i++) {
    const ws = await wsConnect(port);
    assert.equal(ws.response.status, 101);
    await ws.readBytes(12);
    out.push(ws);
  }
  return out;
}

interface LiveSession {
  id: number;
  bytesToTarget: number;
  worker?: number;
}

async function liveSessions(mport: number): Promise<LiveSession[]> {
  return await (await fetch(`http://127.0.0.1:${mport}/sessions.json`)).json();
}

/**
 * Opens sessions (up to 120) until both workers serve some; returns them
 * with their worker. Session i sends i+1 bytes, so its byte count in
 * /sessions.json tells which it is (the client field names no port).
 */
async function spread(
  port: number,
  mport: number,
): Promise<Array<{ ws: TestWs; worker: number }>> {
  const all: TestWs[] = [];
  for (let round = 0; round < 3; round++) {
    for (const ws of await openSessions(port, 40)) {
      await echo(ws, "x".repeat(all.length + 1));
      all.push(ws);
    }
    const bySize = new Map((await liveSessions(mport)).map((s) => [s.bytesToTarget, s]));
    const placed = all.map((ws, i) => ({ ws, worker: bySize.get(i + 1)?.worker ?? 0 }));
    if (new Set(placed.map((p) => p.worker)).size >= 2) return placed;
  }
  throw new Error("120 sessions all went to one worker");
}

/** Worker PIDs from the parent's log lines (the latest start of each). */
function workerPids(p: Proc): Map<number, number> {
  const pids = new Map<number, number>();
  for (const m of p.output().matchAll(/worker started worker=(\d+) pid=(\d+)/g)) {
    pids.set(Number(m[1]), Number(m[2]));
  }
  return pids;
}

const alive = (pid: number) => {
  try {
    return !Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].startsWith("Z");
  } catch {
    return false;
  }
};

function closeAll(sessions: Array<{ ws: TestWs } | TestWs>): void {
  for (const s of sessions) ("ws" in s ? s.ws : s).close();
}

Deno.test({
  name: "--workers 2: both workers serve sessions; /metrics, /sessions.json and logs say so",
  ...opts,
  async fn() {
    const mport = freePort();
    await using p = await startProxy(["--workers", "2", "--metrics", String(mport), "-v"], {
      vncws: { ready: READY },
    });
    const placed = await spread(p.port, mport);
    for (const { ws } of placed.slice(0, 4)) await echo(ws, "hello");
    const workers = new Set(placed.map((x) => x.worker));
    assert.deepEqual([...workers].sort(), [1, 2]);
    // Ids are the host's: worker k numbers k, k+2, …, so none repeats.
    const live = await liveSessions(mport);
    assert.equal(new Set(live.map((s) => s.id)).size, live.length);
    for (const s of live) assert.equal(s.id % 2, s.worker! % 2);
    const metrics = await (await fetch(`http://127.0.0.1:${mport}/metrics`)).text();
    assert.match(metrics, new RegExp(`^vncws_sessions_active ${placed.length}$`, "m"));
    assert.match(metrics, /^vncws_workers 2$/m);
    assert.match(metrics, /^vncws_worker_restarts_total 0$/m);
    // One HELP line per family, however many workers.
    assert.equal(metrics.match(/^# HELP vncws_sessions_active /gm)?.length, 1);
    assert.equal((await fetch(`http://127.0.0.1:${mport}/readyz`)).status, 200);
    assert.match(p.vncws.output(), /session start worker=1 /);
    assert.match(p.vncws.output(), /session start worker=2 /);
    closeAll(placed);
  },
});

Deno.test({
  name: "without --workers there is one process: no worker field, no vncws_workers metric",
  ...opts,
  async fn() {
    const mport = freePort();
    await using p = await startProxy(["--metrics", String(mport)]);
    const sessions = await openSessions(p.port, 3);
    const live = await liveSessions(mport);
    assert.equal(live.length, 3);
    for (const s of live) assert.equal(s.worker, undefined);
    const metrics = await (await fetch(`http://127.0.0.1:${mport}/metrics`)).text();
    assert.doesNotMatch(metrics, /vncws_workers/);
    assert.doesNotMatch(p.vncws.output(), /worker=/);
    closeAll(sessions);
  },
});

Deno.test({
  name: "--workers 2: a killed worker is restarted; the other's sessions go on, new ones work",
  ...opts,
  async fn() {
    const mport = freePort();
    await using p = await startProxy(["--workers", "2", "--metrics", String(mport)], {
      vncws: { ready: READY },
    });
    const placed = await spread(p.port, mport);
    const pids = workerPids(p.vncws);
    assert.equal(pids.size, 2);
    Deno.kill(pids.get(1)!, "SIGKILL");
    await p.vncws.waitFor(/worker crashed; restarting worker=1 /);
    await p.vncws.waitFor(/worker crashed; restarting worker=1 [\s\S]*listening on \S+ worker=1 /);
    const restarted = workerPids(p.vncws).get(1)!;
    assert.notEqual(restarted, pids.get(1));
    // The other worker's sessions are untouched; the killed one's are gone (negative case).
    for (const { ws, worker } of placed) {
      if (worker === 2) await echo(ws, "still here");
      else assert.equal(await ws.next(), null);
    }
    // New sessions work, on whichever worker the kernel picks (the restarted one listens again).
    for (;;) {
      const r = await fetch(`http://127.0.0.1:${mport}/metrics`);
      const m = await r.text();
      if (/^vncws_workers 2$/m.test(m)) {
        assert.match(m, /^vncws_worker_restarts_total 1$/m);
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const fresh = await openSessions(p.port, 20);
    for (const ws of fresh) await echo(ws, "new");
    const workers = new Set((await liveSessions(mport)).map((s) => s.worker));
    assert.ok(workers.has(2));
    assert.ok(alive(pids.get(2)!), "the other worker was not restarted");
    closeAll(placed);
    closeAll(fresh);
  },
});

Deno.test({
  name: "--workers 2 SIGTERM: no worker accepts, sessions drain then 1001, exit 0, no orphans",
  ...opts,
  async fn() {
    const mport = freePort();
    await using p = await startProxy(
      ["--workers", "2", "--metrics", String(mport), "--drain-timeout", "2"],
      { vncws: { ready: READY } },
    );
    const placed = await spread(p.port, mport);
    const pids = [...workerPids(p.vncws).values()];
    Deno.kill(p.vncws.pid, "SIGTERM");
    await p.vncws.waitFor(/stopping worker=1 why=parent/);
    await p.vncws.waitFor(/stopping worker=2 why=parent/);
    // Established sessions on both workers still relay during the drain.
    for (const w of [1, 2]) await echo(placed.find((x) => x.worker === w)!.ws, "draining");
    // Neither worker accepts any more: the port refuses.
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: p.port }));
    // --drain-timeout ends every session with 1001.
    for (const { ws } of placed) assert.equal((await ws.waitClose())?.code, 1001);
    const st = await p.vncws.status;
    assert.equal(st.code, 0, p.vncws.output());
    assert.match(p.vncws.output(), /worker exited worker=1 pid=\d+ code=0/);
    assert.match(p.vncws.output(), /worker exited worker=2 pid=\d+ code=0/);
    for (const pid of pids) assert.ok(!alive(pid), `worker ${pid} outlived its parent`);
    closeAll(placed);
  },
});

Deno.test({
  name: "--workers 2 --ban-after: failures on either worker count for the host's ban",
  ...opts,
  async fn() {
    await using p = await startProxy(["--workers", "2", "--ban-after", "3"], {
      vncws: { ready: READY },
    });
    // A WebSocket upgrade without a key is a bad request: a failed attempt.
    const bad = `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Version: 13\r\n\r\n`;
    const ask = async (request: string) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: p.port });
      await conn.write(enc.encode(request));
      const buf = new Uint8Array(256);
      const n = await conn.read(buf).catch(() => null);
      conn.close();
      return new TextDecoder().decode(buf.subarray(0, n ?? 0));
    };
    // Two failures: not banned yet (negative case), good sessions still pass.
    for (let i = 0; i < 2; i++) assert.match(await ask(bad), /^HTTP\/1\.1 400/);
    const ok = await openSessions(p.port, 4);
    closeAll(ok);
    assert.match(await ask(bad), /^HTTP\/1\.1 400/);
    // The third starts the ban in one worker; the parent passes it to the other.
    await p.vncws.waitFor(/ban start worker=1 /);
    await p.vncws.waitFor(/ban start worker=2 /);
    const good = `GET /vnc.html HTTP/1.1\r\nHost: x\r\n\r\n`;
    for (let i = 0; i < 10; i++) assert.match(await ask(good), /^HTTP\/1\.1 429/);
  },
});

Deno.test({
  name:
    "--workers 2: SIGTERM to the whole group (systemd, pkill) keeps the --drain-delay and the drain",
  ...opts,
  async fn() {
    const mport = freePort();
    await using p = await startProxy(
      ["--workers", "2", "--metrics", String(mport), "--drain-delay", "1", "--drain-timeout", "2"],
      { vncws: { ready: READY } },
    );
    const placed = await spread(p.port, mport);
    const pids = [...workerPids(p.vncws).values()];
    // Every process of the group at once, as systemd's KillMode=control-group does.
    for (const pid of [p.vncws.pid, ...pids]) Deno.kill(pid, "SIGTERM");
    await p.vncws.waitFor(
      /accepting for --drain-delay.*worker=1|worker=1.*accepting for --drain-delay/,
    );
    // Not "closing every session now": the sessions still relay, through the delay and drain.
    for (const w of [1, 2]) await echo(placed.find((x) => x.worker === w)!.ws, "still here");
    for (const { ws } of placed) assert.equal((await ws.waitClose())?.code, 1001);
    const st = await p.vncws.status;
    assert.equal(st.code, 0, p.vncws.output());
    assert.doesNotMatch(p.vncws.output(), /again: (skipping the rest|closing every session)/);
    assert.doesNotMatch(p.vncws.output(), /killing it/);
    closeAll(placed);
  },
});

Deno.test("--workers: usage errors where processes cannot share the port", () => {
  const refused = (args: string[], pattern: RegExp) =>
    assert.throws(
      () => parseCommandLine(args),
      (e) => e instanceof UsageError && pattern.test(e.message),
    );
  refused(
    ["--workers", "2", "--run-once", "6080", "h:1"],
    /--workers cannot be used with --run-once/,
  );
  refused(["--workers", "2", "--unix-listen", "/tmp/s", "h:1"], /with --unix-listen/);
  refused(["--workers", "0", "6080", "h:1"], /--workers takes a number of processes/);
  refused(["--workers", "many", "6080", "h:1"], /--workers takes a number of processes/);
  // Allowed: one worker with anything; N workers with --inetd (they share the inherited socket).
  const one = parseCommandLine(["--workers", "1", "--run-once", "6080", "h:1"]);
  assert.equal(one.kind === "run" && one.config.workers, 1);
  // Wrap mode: the parent runs the one wrapped server.
  const wrap = parseCommandLine(["--workers", "2", "6080", "--", "Xvnc", ":1"]);
  assert.equal(wrap.kind === "run" && wrap.config.workers, 2);
  const inetd = parseCommandLine(["--workers", "2", "--inetd", "h:1"]);
  assert.equal(inetd.kind === "run" && inetd.config.workers, 2);
  const auto = parseCommandLine(["--workers", "auto", "6080", "h:1"]);
  assert.equal(auto.kind === "run" && auto.config.workers, navigator.hardwareConcurrency);
});

Deno.test({
  name: "--workers 2: workers whose parent was killed outright drain and exit by themselves",
  ...opts,
  async fn() {
    await using p = await startProxy(["--workers", "2", "--drain-timeout", "1"], {
      vncws: { ready: READY },
    });
    const pids = [...workerPids(p.vncws).values()];
    assert.ok(pids.every(alive));
    Deno.kill(p.vncws.pid, "SIGKILL");
    await p.vncws.status;
    // Liveness bound only: each worker notices within a second, then drains.
    for (let i = 0; i < 200 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 50));
    for (const pid of pids) assert.ok(!alive(pid), `worker ${pid} outlived its killed parent`);
  },
});

/** Tries upgrades until refusals of `kind` were logged by both workers; every answer is 429. */
async function refusedOnBoth(p: Proc, port: number, kind: string): Promise<void> {
  const by = (w: number) => new RegExp(`refused worker=${w} [^\\n]*kind=${kind} `);
  for (let i = 0; i < 80 && !(by(1).test(p.output()) && by(2).test(p.output())); i++) {
    const ws = await wsConnect(port);
    assert.equal(ws.response.status, 429, `attempt ${i + 1} was not refused`);
    ws.close();
  }
  await p.waitFor(by(1));
  await p.waitFor(by(2));
}

/** Tries upgrades (a bounded number) until one is admitted; returns it. */
async function admitted(port: number): Promise<TestWs> {
  for (let i = 0; i < 100; i++) {
    let ws: TestWs;
    try {
      ws = await wsConnect(port);
    } catch (e) {
      // A connection the kernel had queued on a worker that was just killed is reset
      // (SO_REUSEPORT: each worker has its own accept queue); the next one goes elsewhere.
      if (e instanceof Deno.errors.ConnectionReset) continue;
      throw e;
    }
    if (ws.response.status === 101) return ws;
    ws.close();
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("no session was admitted in 100 attempts");
}

Deno.test({
  name: "--workers 2 --max-per-ip 1: one session host-wide; freed when it ends or its worker dies",
  ...opts,
  async fn() {
    const mport = freePort();
    await using p = await startProxy(
      ["--workers", "2", "--max-per-ip", "1", "--metrics", String(mport)],
      { vncws: { ready: READY } },
    );
    const first = await wsConnect(p.port);
    assert.equal(first.response.status, 101);
    await first.readBytes(12);
    // Every other attempt is refused, on whichever worker it lands (both are hit).
    await refusedOnBoth(p.vncws, p.port, "limit");
    // The first session ends: its slot is free again, on either worker.
    first.close();
    const second = await admitted(p.port);
    await second.readBytes(12);
    const negative = await wsConnect(p.port);
    assert.equal(negative.response.status, 429);
    negative.close();
    // Its worker is killed outright: the parent frees its slot at once (nothing expires).
    // The second is the session that sent 6 bytes (the first may still be ending).
    await echo(second, "second");
    let holder: number | undefined;
    for (let i = 0; i < 100 && holder === undefined; i++) {
      holder = (await liveSessions(mport)).find((s) => s.bytesToTarget === 6)?.worker;
    }
    assert.ok(holder !== undefined, "the second session is not in /sessions.json");
    Deno.kill(workerPids(p.vncws).get(holder)!, "SIGKILL");
    assert.equal(await second.next(), null);
    const third = await admitted(p.port);
    await third.readBytes(12);
    await echo(third, "after the kill");
    third.close();
    assert.doesNotMatch(p.vncws.output(), /host limits: the --workers parent does not answer/);
  },
});

Deno.test({
  name: "--workers 2 --handshake-rate: the host's handshakes share one bucket",
  ...opts,
  async fn() {
    // One handshake a 100 s: the burst of one is the host's, not one per worker.
    await using p = await startProxy(["--workers", "2", "--handshake-rate", "0.01"], {
      vncws: { ready: READY },
    });
    const first = await wsConnect(p.port);
    assert.equal(first.response.status, 101);
    await refusedOnBoth(p.vncws, p.port, "rate");
    first.close();
  },
});

const FAKE_RFB = new URL("./_fake_rfb.py", import.meta.url).pathname;
const noShim = skipUnless([PYTHON, "cc"], "apt-get install python3 gcc");

/** `vncws --workers 2 P -- python3 _fake_rfb.py P`, once the wrapped server is ready. */
async function wrapped(extra: string[] = []): Promise<{ p: Proc; port: number; server: number }> {
  const port = freePort();
  const p = await startVncws(
    ["--workers", "2", "-v", ...extra, String(port), "--", PYTHON, FAKE_RFB, String(port)],
    { ready: "wrapped server ready" },
  );
  const moved = Number(/wrapped server ready .*target=127\.0\.0\.1:(\d+)/.exec(p.output())![1]);
  const owners = socketOwners(tcpListeners(moved).map((l) => l.inode));
  assert.equal(owners.length, 1, "one process listens on the wrapped server's port");
  return { p, port, server: owners[0] };
}

Deno.test({
  name: "--workers 2 wrap mode: one wrapped server behind both workers; its exit code is vncws's",
  ignore: noShim,
  ...opts,
  async fn() {
    const { p, port, server } = await wrapped();
    try {
      // Only the workers listen on P; the one server listens on its private port.
      const workers = [...workerPids(p).values()];
      const onP = socketOwners(tcpListeners(port).map((l) => l.inode));
      assert.ok(onP.length > 0 && onP.every((pid) => workers.includes(pid)), `owners ${onP}`);
      assert.ok(!workers.includes(server) && server !== p.pid);
      // Sessions on both workers reach the same server.
      const sessions: TestWs[] = [];
      const served = (w: number) => new RegExp(`session start worker=${w} `).test(p.output());
      for (let i = 0; i < 60 && !(served(1) && served(2)); i++) {
        const ws = await wsConnect(port);
        assert.equal(ws.response.status, 101);
        assert.equal(new TextDecoder().decode(await ws.readBytes(12)), "RFB 003.008\n");
        await echo(ws, "hello");
        sessions.push(ws);
      }
      await p.waitFor(/session start worker=1 /);
      await p.waitFor(/session start worker=2 /);
      closeAll(sessions);
      // The parent still runs (negative case); the server's exit ends it with its code.
      assert.ok(alive(p.pid));
      const last = await wsConnect(port);
      await last.readBytes(12);
      await last.sendBinary("quit");
      const st = await p.status;
      assert.equal(st.code, 7, p.output());
      assert.match(p.output(), /stopping why="the wrapped command exited with code 7"/);
      for (const pid of workers) assert.ok(!alive(pid), `worker ${pid} outlived its parent`);
      assert.doesNotMatch(p.output(), /Debugger listening/);
      last.close();
    } finally {
      await p.stop();
    }
  },
});

Deno.test({
  name: "--workers 2 wrap mode: SIGTERM drains the workers, then ends the wrapped server; exit 0",
  ignore: noShim,
  ...opts,
  async fn() {
    const { p, server } = await wrapped(["--drain-timeout", "1"]);
    try {
      assert.ok(alive(server));
      Deno.kill(p.pid, "SIGTERM");
      const st = await p.status;
      assert.equal(st.code, 0, p.output());
      assert.ok(!alive(server), "the wrapped server outlived vncws");
      assert.doesNotMatch(p.output(), /Debugger listening/);
    } finally {
      await p.stop();
    }
  },
});
