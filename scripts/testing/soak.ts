/**
 * Soak harness: many concurrent WebSocket sessions through a real vncws
 * process to a checking target, random sizes both ways, every byte checked
 * against a per-session pseudo-random stream (so a lost, duplicated,
 * reordered or changed byte is found at its offset), vncws RSS and fds
 * sampled from /proc. Used by test/reliability/soak_test.ts (small) and
 * `deno task fuzz --soak` (1000 sessions for minutes).
 * @module
 */
import { encodeFrame, FrameDecoder, Opcode } from "../../src/ws/frame.ts";
import { sleep } from "../../src/base/time.ts";
import { freePort, type Proc, startVncws, writeAll } from "./util.ts";
import { ByteGen, type CheckTarget, rand, startCheckTarget } from "./soak_target.ts";
import { randomKey, readResponse } from "./ws_client.ts";
import { fdCount, raiseFdLimit, rssBytes, settleTo } from "./proc.ts";

/** One session's result, seen from the client. */
export interface SessionResult {
  upSent: number;
  downReceived: number;
  downExpected: number;
  /** Stream offset of the first wrong byte from the target, -1 if none. */
  corruptAt: number;
  closeCode: number;
}

/**
 * Runs one WebSocket session through vncws: sends `up` checked bytes in
 * random-size (sometimes fragmented) messages, checks `down` bytes, answers
 * the close. Throws on a failed handshake or a connection error.
 */
export async function checkedSession(
  port: number,
  spec: { id: number; up: number; down: number },
  watch?: {
    conn?: Deno.Conn;
    result?: SessionResult;
    phase?: string;
    /** When the request write was started (ms since the epoch): the bytes reach the kernel then. */
    requestAt?: number;
  },
): Promise<SessionResult> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  if (watch) watch.conn = conn;
  if (watch) watch.requestAt = Date.now();
  try {
    await writeAll(
      conn,
      new TextEncoder().encode(
        `GET /websockify HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomKey()}\r\n` +
          `Sec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
    const res = await readResponse(conn);
    if (res.status !== 101) throw new Error(`handshake got ${res.status}: ${res.head}`);
    const result: SessionResult = {
      upSent: 0,
      downReceived: 0,
      downExpected: spec.down,
      corruptAt: -1,
      closeCode: 0,
    };
    if (watch) {
      watch.result = result;
      watch.phase = "relaying";
    }
    const mask = () => crypto.getRandomValues(new Uint8Array(4));
    const sender = (async () => {
      const hdr = new Uint8Array(12);
      const v = new DataView(hdr.buffer);
      v.setUint32(0, spec.id);
      v.setUint32(4, spec.up);
      v.setUint32(8, spec.down);
      await writeAll(conn, encodeFrame(Opcode.Binary, hdr, { mask: mask() }));
      const gen = new ByteGen(spec.id * 2);
      while (result.upSent < spec.up) {
        const payload = gen.fill(
          new Uint8Array(Math.min(spec.up - result.upSent, 1 + rand(65535))),
        );
        if (payload.length > 1 && Math.random() < 0.2) {
          // A fragmented message with a ping between the fragments.
          const half = payload.length >> 1;
          await writeAll(
            conn,
            encodeFrame(Opcode.Binary, payload.subarray(0, half), { fin: false, mask: mask() }),
          );
          await writeAll(conn, encodeFrame(Opcode.Ping, new Uint8Array([1, 2]), { mask: mask() }));
          await writeAll(
            conn,
            encodeFrame(Opcode.Continuation, payload.subarray(half), { mask: mask() }),
          );
        } else {
          await writeAll(conn, encodeFrame(Opcode.Binary, payload, { mask: mask() }));
        }
        result.upSent += payload.length;
      }
      if (watch) watch.phase = "sent all";
    })();
    const decoder = new FrameDecoder({ expectMasked: false });
    const gen = new ByteGen(spec.id * 2 + 1);
    const buf = new Uint8Array(65536);
    let chunk: Uint8Array | undefined = res.rest.length ? res.rest : undefined;
    reading: for (;;) {
      if (!chunk) {
        const n = await conn.read(buf);
        if (n === null) break;
        chunk = buf.subarray(0, n);
      }
      decoder.push(chunk);
      chunk = undefined;
      for (let ev = decoder.next(); ev !== null; ev = decoder.next()) {
        if (ev.kind === "data") {
          if (result.corruptAt < 0) {
            const at = gen.check(ev.bytes);
            if (at >= 0) result.corruptAt = at;
          }
          result.downReceived += ev.bytes.length;
        } else if (ev.kind === "close") {
          result.closeCode = ev.code;
          await sender.catch(() => {});
          await writeAll(
            conn,
            encodeFrame(Opcode.Close, new Uint8Array([0x03, 0xe8]), {
              mask: mask(),
            }),
          ).catch(() => {});
          break reading;
        }
      }
    }
    await sender;
    return result;
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/** Options for {@linkcode runSoak}. */
export interface SoakOptions {
  /** Concurrent sessions (each slot runs sessions back to back). */
  sessions: number;
  /** How long to keep starting sessions. */
  seconds: number;
  /** Largest upload / download per session (random sizes up to these). */
  maxUp?: number;
  maxDown?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** The soak's figures. */
export interface SoakReport {
  sessions: number;
  concurrency: number;
  seconds: number;
  bytesUp: number;
  bytesDown: number;
  /** Bytes expected but not delivered (both ways). */
  lost: number;
  /** Sessions with a wrong byte (either way). */
  corrupted: number;
  failedSessions: number;
  /**
   * Failed sessions that vncws closed as silent, split by when the driver wrote the request:
   * after vncws had given up (the driver was late), or before (vncws missed the bytes).
   */
  silentBeforeRequest?: number;
  silentAfterRequest?: number;
  /** How late the latest request was, after vncws had closed its connection as silent. */
  silentRequestLateMaxMs?: number;
  firstError?: string;
  /** Where the first wrong byte was (direction, session, offset). */
  firstCorrupt?: string;
  /** Sessions whose close was not 1000 "Target closed". */
  badClose: number;
  rssStartMiB: number;
  rssWarmMiB: number;
  rssLateMaxMiB: number;
  rssPeakMiB: number;
  fdsBefore: number;
  fdsPeak: number;
  fdsAfter: number;
  /** vncws log lines other than session ends, counted by message (why sessions failed). */
  vncwsLog?: Record<string, number>;
}

/** Counts log lines by their message, leaving out the per-session "session end" lines. */
export function summarizeLog(text: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^\S+ (\w+)\s+(.*?)(?: \w+=|$)/.exec(line);
    if (!m || m[2].startsWith("session end") || m[2].startsWith("open ")) continue;
    const key = `${m[1]} ${m[2]}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/**
 * Matches vncws's "closed a silent connection" lines to the failed sessions'
 * request times by client port, to tell whose delay it was.
 */
export function attributeSilent(
  log: string,
  requestTimes: Map<number, number>,
): Pick<SoakReport, "silentBeforeRequest" | "silentAfterRequest" | "silentRequestLateMaxMs"> {
  let before = 0;
  let after = 0;
  let lateMax = 0;
  for (const line of log.split("\n")) {
    const m = /^(\S+) \w+\s+closed a silent connection client=\S+:(\d+)/.exec(line);
    if (!m) continue;
    const closedAt = Date.parse(m[1]);
    const requestAt = requestTimes.get(Number(m[2]));
    if (requestAt === undefined) continue;
    if (requestAt >= closedAt) {
      before++;
      lateMax = Math.max(lateMax, requestAt - closedAt);
    } else {
      after++;
    }
  }
  return {
    silentBeforeRequest: before,
    silentAfterRequest: after,
    silentRequestLateMaxMs: lateMax,
  };
}

/** Starts vncws in front of a checking target and soaks it; stops everything it started. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const target = startCheckTarget();
  const port = freePort();
  let vncws: Proc | undefined;
  try {
    vncws = await startVncws([
      `127.0.0.1:${port}`,
      `127.0.0.1:${target.port}`,
      "--max-connections",
      String(options.sessions * 2 + 64),
      "--web",
      "none",
      // A loaded driver can take over --raw-wait (1 s) to send its request after
      // connecting; vncws would then relay it as a raw VNC viewer. Not what is soaked here.
      "--raw-wait",
      "0",
    ]);
    const pid = vncws.pid;
    await raiseFdLimit(pid);
    const requestTimes = new Map<number, number>();
    const report = await soakAgainst(pid, port, target, options, requestTimes);
    report.vncwsLog = summarizeLog(vncws.output());
    Object.assign(report, attributeSilent(vncws.output(), requestTimes));
    return report;
  } finally {
    await vncws?.stop();
    await target.close();
  }
}

async function soakAgainst(
  pid: number,
  port: number,
  target: CheckTarget,
  options: SoakOptions,
  /** Filled in: client port → when its request write started, for failed sessions. */
  requestTimes: Map<number, number>,
): Promise<SoakReport> {
  const log = options.log ?? (() => {});
  const maxUp = options.maxUp ?? 256 * 1024;
  const maxDown = options.maxDown ?? 1024 * 1024;
  const fdsBefore = fdCount(pid);
  const rssStart = rssBytes(pid);
  const report: SoakReport = {
    sessions: 0,
    concurrency: options.sessions,
    seconds: options.seconds,
    bytesUp: 0,
    bytesDown: 0,
    lost: 0,
    corrupted: 0,
    failedSessions: 0,
    badClose: 0,
    rssStartMiB: rssStart / 1048576,
    rssWarmMiB: 0,
    rssLateMaxMiB: 0,
    rssPeakMiB: 0,
    fdsBefore,
    fdsPeak: fdsBefore,
    fdsAfter: 0,
  };
  const started = Date.now();
  const deadline = started + options.seconds * 1000;
  const warmUntil = started + options.seconds * 1000 * 0.3;
  const lateFrom = started + options.seconds * 1000 * 0.6;
  let warm = 0;
  let late = 0;
  let peak = 0;
  const sampler = setInterval(() => {
    const r = rssBytes(pid);
    const now = Date.now();
    peak = Math.max(peak, r);
    if (now <= warmUntil) warm = Math.max(warm, r);
    if (now >= lateFrom) late = Math.max(late, r);
    report.fdsPeak = Math.max(report.fdsPeak, fdCount(pid));
  }, 250);
  const progress = setInterval(() => {
    log(
      `  ${((Date.now() - started) / 1000).toFixed(0)} s: ${report.sessions} sessions, ` +
        `${((report.bytesUp + report.bytesDown) / 1048576).toFixed(0)} MiB, ` +
        `rss ${(rssBytes(pid) / 1048576).toFixed(1)} MiB, fds ${fdCount(pid)}`,
    );
  }, 10000);
  let nextId = 1;
  type Watch = {
    spec: { id: number; up: number; down: number };
    conn?: Deno.Conn;
    result?: SessionResult;
    phase?: string;
    stuck?: string;
    requestAt?: number;
  };
  const active = new Set<Watch>();
  const slot = async (i: number) => {
    // Spread the first connects over a second: a burst of 1000 SYNs overflows the backlog.
    await sleep((i * 1000) / options.sessions);
    while (Date.now() < deadline) {
      const spec = { id: nextId++, up: rand(maxUp), down: rand(maxDown) };
      const watch: Watch = { spec };
      active.add(watch);
      try {
        const r = await checkedSession(port, spec, watch);
        report.sessions++;
        report.bytesUp += r.upSent;
        report.bytesDown += r.downReceived;
        report.lost += r.downExpected - Math.min(r.downExpected, r.downReceived);
        if (r.corruptAt >= 0) {
          report.corrupted++;
          report.firstCorrupt ??= `down: session ${spec.id} offset ${r.corruptAt} of ${spec.down}`;
        }
        if (r.closeCode !== 1000) report.badClose++;
      } catch (e) {
        report.failedSessions++;
        const local = watch.conn?.localAddr as Deno.NetAddr | undefined;
        if (local && watch.requestAt !== undefined) {
          requestTimes.set(local.port, watch.requestAt);
        }
        report.firstError ??= `session ${spec.id}: ${e instanceof Error ? e.message : e}` +
          (watch.stuck ?? "");
      } finally {
        active.delete(watch);
      }
    }
  };
  // A session still running 30 s after the deadline is stuck: report where, then cut it.
  const reaper = setInterval(() => {
    if (Date.now() < deadline + 30000) return;
    for (const w of active) {
      const t = target.progress.get(w.spec.id);
      w.stuck = ` (stuck: ${
        JSON.stringify({ spec: w.spec, phase: w.phase, client: w.result, target: t })
      })`;
      try {
        w.conn?.close();
      } catch { /* closed */ }
    }
  }, 1000);
  await Promise.all(Array.from({ length: options.sessions }, (_, i) => slot(i)));
  clearInterval(reaper);
  clearInterval(sampler);
  clearInterval(progress);
  // Upload bytes: what the clients sent and the target did not check is lost.
  report.lost += Math.max(0, report.bytesUp - target.stats.upBytes);
  report.corrupted += target.stats.upCorrupt;
  report.firstCorrupt ??= target.stats.firstCorrupt;
  report.rssWarmMiB = warm / 1048576;
  report.rssLateMaxMiB = late / 1048576;
  report.rssPeakMiB = peak / 1048576;
  report.fdsAfter = await settleTo(() => fdCount(pid), fdsBefore, 15000);
  log(
    `  done: ${report.sessions} sessions, lost ${report.lost}, corrupted ${report.corrupted}, ` +
      `failed ${report.failedSessions}`,
  );
  return report;
}
