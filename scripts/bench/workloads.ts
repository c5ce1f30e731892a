/**
 * The workloads: each drives the C load client against one peer and returns
 * named measurements, with the proxy's CPU read from /proc around the run.
 * @module
 */

import type { Tools } from "./build.ts";
import type { Sizes, WorkloadName } from "./options.ts";
import { freePort, peerCommand, type PeerContext, type RunningPeer } from "./peers.ts";
import { run, spawn, type Spawned } from "./process.ts";
import { hardNofile, treeCpuSeconds, treeMemory, treeRunSeconds } from "./proc_stat.ts";
import { sleep } from "../../src/base/time.ts";

/** Measurements of one workload run, keyed by metric id (see report.ts). */
export type Measured = Record<string, number>;

/** Everything a workload needs besides the peer. */
export interface WorkloadContext {
  tools: Tools;
  sizes: Sizes;
  peerContext: PeerContext;
}

const GiB = 1024 ** 3;

/** Runs the client once; resolves its JSON answer or throws its error. */
async function client(
  ctx: WorkloadContext,
  peer: RunningPeer,
  args: (string | number)[],
  path?: string,
): Promise<Record<string, number>> {
  const argv = [peer.spec.transport, "127.0.0.1", String(peer.port), ...args.map(String)];
  const { code, output } = await run("bench_client", ctx.tools.client, argv, {
    timeoutMs: ctx.sizes.timeoutMs,
    env: path ? { BENCH_WS_PATH: path } : undefined,
  });
  const line = output.trim().split("\n").reverse().find((l) => l.startsWith("{"));
  const answer = line ? JSON.parse(line) : undefined;
  if (code !== 0 || !answer || answer.error) {
    throw new Error(answer?.error ?? `bench_client exited ${code}: ${output.slice(-500)}`);
  }
  return answer;
}

/** Runs `fn` and returns the proxy tree's CPU seconds spent meanwhile. */
async function withCpu<T>(peer: RunningPeer, fn: () => Promise<T>): Promise<[T, number]> {
  const pid = peer.proc?.pid;
  const before = pid ? treeCpuSeconds(pid) : 0;
  const result = await fn();
  if (!pid) return [result, NaN];
  // let forked per-session children finish and be reaped into the parent's totals
  await sleep(150);
  return [result, treeCpuSeconds(pid) - before];
}

async function bulk(ctx: WorkloadContext, peer: RunningPeer, dir: "down" | "up") {
  const [r, cpu] = await withCpu(peer, () => client(ctx, peer, [dir, ctx.sizes.bulk, 1]));
  return {
    [`${dir}_mbs`]: r.bytes / r.secs / 1e6,
    [`${dir}_cpu`]: cpu / (r.bytes / GiB),
  };
}

async function rtt(ctx: WorkloadContext, peer: RunningPeer): Promise<Measured> {
  const { rttCount, rttSize } = ctx.sizes;
  const [r, cpu] = await withCpu(peer, () => client(ctx, peer, ["rtt", rttCount, rttSize]));
  return {
    rtt_p50: r.p50_us,
    rtt_p99: r.p99_us,
    rtt_cpu: cpu / rttCount * 1e6,
  };
}

async function rfb(ctx: WorkloadContext, peer: RunningPeer): Promise<Measured> {
  const [r, cpu] = await withCpu(peer, () => client(ctx, peer, ["rfb", ctx.sizes.rfbUpdates]));
  return {
    rfb_mbs: r.bytes / r.secs / 1e6,
    rfb_ups: r.updates / r.secs,
    rfb_cpu: cpu / (r.bytes / GiB),
  };
}

async function conc(ctx: WorkloadContext, peer: RunningPeer): Promise<Measured> {
  const out: Measured = {};
  for (const n of ctx.sizes.conc) {
    const r = await client(ctx, peer, ["down", ctx.sizes.concBytes, n]);
    out[`conc${n}_mbs`] = r.bytes / r.secs / 1e6;
  }
  return out;
}

/** How many of `wanted` open sessions a peer is given (fd limit and fork-per-session caps). */
function sessionCount(peer: RunningPeer, wanted: number, forking: number): number {
  if (peer.spec.forks) return Math.min(wanted, forking);
  // a single process holds two descriptors per session (client side and target side)
  return Math.min(wanted, Math.floor((hardNofile() - 64) / 2));
}

/** How many idle sessions a peer is given (fd limit and fork-per-session caps). */
export function idleCount(peer: RunningPeer, sizes: Sizes): number {
  return sessionCount(peer, sizes.idle, sizes.idleForking);
}

/** How many ticking sessions a peer is given (fd limit and fork-per-session caps). */
export function ticksCount(peer: RunningPeer, sizes: Sizes): number {
  return sessionCount(peer, sizes.ticks, sizes.ticksForking);
}

/** A new instance of `peer` on a free port, started and proven by one session. */
async function freshInstance(
  ctx: WorkloadContext,
  peer: RunningPeer,
  extra: { vncwsArgs?: string[]; websockifyArgs?: string[]; path?: string } = {},
): Promise<{ peer: RunningPeer; ms: number }> {
  const port = freePort();
  const command = peerCommand(peer.spec, port, {
    ...ctx.peerContext,
    vncwsArgs: extra.vncwsArgs,
    websockifyArgs: extra.websockifyArgs,
  });
  if ("unavailable" in command) throw new Error(command.unavailable);
  const t0 = performance.now();
  const proc = spawn(`${peer.spec.name} (fresh)`, command.cmd, command.args);
  const fresh = { ...peer, port, proc };
  try {
    await client(ctx, fresh, ["probe", 30_000], extra.path);
  } catch (e) {
    await proc.stop();
    throw e;
  }
  return { peer: fresh, ms: performance.now() - t0 };
}

/** The client's JSON line that has `key`, once printed; throws the client's error instead. */
async function clientLine(
  c: Spawned,
  key: string,
  timeoutMs: number,
): Promise<Record<string, number>> {
  await c.waitFor((out) => out.includes(`"${key}"`) || out.includes('"error"'), timeoutMs);
  const err = c.output().match(/"error":"([^"]*)"/);
  if (err) throw new Error(err[1]);
  return JSON.parse(c.output().split("\n").find((l) => l.includes(`"${key}"`))!);
}

/**
 * Memory per idle session, on a fresh instance: a long-running one keeps
 * memory from earlier workloads and would understate the cost of new sessions.
 */
async function idle(ctx: WorkloadContext, peer: RunningPeer): Promise<Measured> {
  const { peer: fresh } = await freshInstance(ctx, peer);
  const pid = fresh.proc!.pid;
  const n = idleCount(peer, ctx.sizes);
  const argv = [peer.spec.transport, "127.0.0.1", String(fresh.port), "idle", String(n)];
  let c: ReturnType<typeof spawn> | undefined;
  try {
    const base = treeMemory(pid);
    c = spawn("bench_client idle", ctx.tools.client, argv, { stdin: true });
    await clientLine(c, "ready", ctx.sizes.timeoutMs);
    await sleep(1000); // let the proxy settle (lazy allocations, forked children)
    const held = treeMemory(pid);
    await c.write("\n");
    await c.status;
    return {
      idle_n: n,
      idle_rss: (held.rss - base.rss) / n / 1024,
      idle_pss: (held.pss - base.pss) / n / 1024,
    };
  } finally {
    await c?.stop();
    await fresh.proc!.stop();
  }
}

async function burst(ctx: WorkloadContext, peer: RunningPeer): Promise<Measured> {
  const { burst, burstParallel } = ctx.sizes;
  const r = await client(ctx, peer, ["burst", burst, burstParallel]);
  if (peer.spec.name !== "vncws" && peer.spec.name !== "websockify") {
    return { burst_rate: r.sessions / r.secs };
  }
  return { burst_rate: r.sessions / r.secs, burst_tok_rate: await tokenBurst(ctx, peer) };
}

/** Entries in the token file of the handshake burst with tokens (issue 20). */
export const TOKEN_FILE_ENTRIES = 10_000;

/**
 * Sessions/s of the burst through a fresh instance that routes by a token
 * file of {@linkcode TOKEN_FILE_ENTRIES} lines (`--token-plugin TokenFile`,
 * websockify's name and format, written a minute into the past), every
 * session asking for the last token: a lookup that scans the file costs
 * most there.
 */
async function tokenBurst(ctx: WorkloadContext, peer: RunningPeer): Promise<number> {
  const { burst, burstParallel } = ctx.sizes;
  const dir = await Deno.makeTempDir({ prefix: "vncws_bench_tokens_" });
  try {
    const file = `${dir}/tokens.conf`;
    const target = `127.0.0.1:${ctx.peerContext.targetPort}`;
    const lines = Array.from({ length: TOKEN_FILE_ENTRIES }, (_, i) => `t${i}: ${target}`);
    await Deno.writeTextFile(file, lines.join("\n") + "\n");
    // A file in service is older than the 2 s in which vncws re-parses a file it
    // cannot tell from a same-timestamp rewrite (token_file.ts RACY_MS).
    const past = new Date(Date.now() - 60_000);
    await Deno.utime(file, past, past);
    const args = ["--token-plugin", "TokenFile", "--token-source", file];
    const path = `/?token=t${TOKEN_FILE_ENTRIES - 1}`;
    const { peer: fresh } = await freshInstance(ctx, peer, {
      vncwsArgs: args,
      websockifyArgs: args,
      path,
    });
    try {
      const r = await client(ctx, fresh, ["burst", burst, burstParallel], path);
      return r.sessions / r.secs;
    } finally {
      await fresh.proc!.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Times spawn → first session through a fresh instance. */
async function startup(ctx: WorkloadContext, peer: RunningPeer): Promise<Measured> {
  const { peer: fresh, ms } = await freshInstance(ctx, peer);
  await fresh.proc!.stop();
  return { startup_ms: ms };
}

/** The client's totals of one ticks run. */
export interface TicksAnswer {
  sessions: number;
  updates: number;
  /** Sessions that received nothing in the measured window. */
  silent: number;
  /** The client's measured window. */
  secs: number;
}

/**
 * The ticks metrics under `prefix`: updates/s delivered, proxy CPU as percent
 * of one core and per update, and RSS in total and per session above the
 * fresh instance's baseline.
 */
export function ticksMeasured(
  prefix: string,
  r: TicksAnswer,
  cpu: { seconds: number; wallSeconds: number },
  rss: { base: number; held: number },
): Measured {
  return {
    [`${prefix}_n`]: r.sessions,
    [`${prefix}_rate`]: r.updates / r.secs,
    [`${prefix}_cpu`]: cpu.seconds / cpu.wallSeconds * 100,
    [`${prefix}_us`]: r.updates > 0 ? cpu.seconds / r.updates * 1e6 : NaN,
    [`${prefix}_rss`]: rss.held / 2 ** 20,
    [`${prefix}_kib`]: (rss.held - rss.base) / r.sessions / 1024,
  };
}

/**
 * Many sessions that each get a small update a second (an idle desktop's
 * clock or cursor), on a fresh instance: the proxy's CPU and memory in the
 * steady state, and the updates delivered (all sessions must get some).
 */
async function ticksRun(
  ctx: WorkloadContext,
  peer: RunningPeer,
  prefix: string,
  secs: number,
  extra: { vncwsArgs?: string[]; websockifyArgs?: string[]; size?: number } = {},
): Promise<Measured> {
  const { peer: fresh } = await freshInstance(ctx, peer, extra);
  const pid = fresh.proc!.pid;
  const n = ticksCount(peer, ctx.sizes);
  const argv = [peer.spec.transport, "127.0.0.1", String(fresh.port), "ticks"]
    .concat([n, secs, extra.size ?? ctx.sizes.ticksSize].map(String));
  let c: Spawned | undefined;
  try {
    const base = treeMemory(pid).rss;
    c = spawn("bench_client ticks", ctx.tools.client, argv, { stdin: true });
    await clientLine(c, "measuring", ctx.sizes.timeoutMs);
    // schedstat, not stat: a forking relay's children each run a few ms, which stat rounds to 0
    const cpu0 = treeRunSeconds(pid);
    const t0 = performance.now();
    const r = await clientLine(c, "sessions", secs * 1000 + 30_000) as unknown as TicksAnswer;
    const cpu = {
      seconds: treeRunSeconds(pid) - cpu0,
      wallSeconds: (performance.now() - t0) / 1e3,
    };
    const held = treeMemory(pid).rss; // every session still open and ticking
    await c.write("\n");
    await c.status;
    if (r.silent > 0) {
      throw new Error(`${r.silent} of ${r.sessions} sessions got no update in ${secs} s`);
    }
    if (r.updates / r.secs > 1.1 * r.sessions) {
      throw new Error(
        `${Math.round(r.updates / r.secs)} updates/s from ${r.sessions} sessions that get one ` +
          "a second: a backlog from before the window was counted",
      );
    }
    return ticksMeasured(prefix, r, cpu, { base, held });
  } finally {
    await c?.stop();
    await fresh.proc!.stop();
  }
}

/** Ticks for every proxy; vncws also with `--heartbeat`, over at least one heartbeat period. */
async function ticks(ctx: WorkloadContext, peer: RunningPeer): Promise<Measured> {
  const { ticksSecs, ticksHeartbeat } = ctx.sizes;
  const plain = await ticksRun(ctx, peer, "ticks", ticksSecs);
  if (peer.spec.name !== "vncws") return plain;
  // a window of a whole period opened after the last session started sees each session ping once
  const hb = await ticksRun(ctx, peer, "ticks_hb", Math.max(ticksSecs, ticksHeartbeat), {
    vncwsArgs: ["--heartbeat", String(ticksHeartbeat)],
  });
  return { ...plain, ...hb };
}

/** The policy workload's configurations: metric prefix and vncws options. */
export const POLICY_RUNS: ReadonlyArray<readonly [string, string[]]> = [
  ["policy_plain", []],
  ["policy_vo", ["--view-only"]],
  ["policy_clip", ["--clipboard", "none"]],
];

let policyRound = 0;

/**
 * The RFB workload after a real handshake through fresh vncws instances with
 * each policy (POLICY_RUNS), in alternating order: what the RFB policy filter
 * costs against the plain relay on the same bytes.
 */
async function policy(ctx: WorkloadContext, peer: RunningPeer): Promise<Measured> {
  const rfbPort = ctx.peerContext.rfbTargetPort;
  if (rfbPort === undefined) throw new Error("the target has no RFB port");
  const runs = policyRound++ % 2 === 0 ? POLICY_RUNS : [...POLICY_RUNS].reverse();
  const out: Measured = {};
  for (const [prefix, args] of runs) {
    const port = freePort();
    const context = { ...ctx.peerContext, targetPort: rfbPort, vncwsArgs: args };
    const command = peerCommand(peer.spec, port, context);
    if ("unavailable" in command) throw new Error(command.unavailable);
    const fresh = {
      ...peer,
      port,
      proc: spawn(`${peer.spec.name} ${prefix}`, command.cmd, command.args),
    };
    try {
      // ready once one short session goes through (startup is not measured here)
      const t0 = performance.now();
      for (;;) {
        try {
          await client(ctx, fresh, ["rfbhs", 10]);
          break;
        } catch (e) {
          if (performance.now() - t0 > 30_000) throw e;
          await sleep(100);
        }
      }
      const [r, cpu] = await withCpu(
        fresh,
        () => client(ctx, fresh, ["rfbhs", ctx.sizes.rfbUpdates]),
      );
      out[`${prefix}_mbs`] = r.bytes / r.secs / 1e6;
      out[`${prefix}_cpu`] = cpu / (r.bytes / GiB);
    } finally {
      await fresh.proc.stop();
    }
  }
  return out;
}

/**
 * A mostly idle fleet (issue 20): the ticks sessions with heartbeats and an
 * idle timeout, as deployments behind load balancers run, over one heartbeat
 * period (every session pings once). websockify gets `--heartbeat` too (it
 * has no per-session idle timeout); it forks, so it holds fewer sessions.
 */
async function fleet(ctx: WorkloadContext, peer: RunningPeer): Promise<Measured> {
  const { fleetHeartbeat, fleetIdle, fleetSize, ticksSecs } = ctx.sizes;
  const hb = ["--heartbeat", String(fleetHeartbeat)];
  return await ticksRun(ctx, peer, "fleet", Math.max(ticksSecs, fleetHeartbeat), {
    vncwsArgs: [...hb, "--session-idle-timeout", String(fleetIdle)],
    websockifyArgs: hb,
    size: fleetSize,
  });
}

/** A workload: which peers it applies to and how to run it. */
export interface Workload {
  name: WorkloadName;
  /** Whether the workload runs against this peer. */
  appliesTo(peer: RunningPeer): boolean;
  run(ctx: WorkloadContext, peer: RunningPeer): Promise<Measured>;
}

const plainOnly = (p: RunningPeer) => p.spec.transport !== "wss";
const plainProxy = (p: RunningPeer) => plainOnly(p) && p.spec.proxy;

/** All workloads by name. */
export const WORKLOADS: Record<WorkloadName, Workload> = {
  down: { name: "down", appliesTo: () => true, run: (c, p) => bulk(c, p, "down") },
  up: { name: "up", appliesTo: () => true, run: (c, p) => bulk(c, p, "up") },
  rtt: { name: "rtt", appliesTo: () => true, run: rtt },
  rfb: { name: "rfb", appliesTo: plainOnly, run: rfb },
  policy: { name: "policy", appliesTo: (p) => p.spec.name === "vncws", run: policy },
  conc: { name: "conc", appliesTo: plainOnly, run: conc },
  idle: { name: "idle", appliesTo: plainProxy, run: idle },
  burst: { name: "burst", appliesTo: plainOnly, run: burst },
  startup: { name: "startup", appliesTo: plainProxy, run: startup },
  ticks: { name: "ticks", appliesTo: (p) => p.spec.proxy, run: ticks },
  fleet: {
    name: "fleet",
    appliesTo: (p) => p.spec.name === "vncws" || p.spec.name === "websockify",
    run: fleet,
  },
};
