/**
 * The workloads: each drives the C load client against one peer and returns
 * named measurements, with the proxy's CPU read from /proc around the run.
 * @module
 */

import type { Tools } from "./build.ts";
import type { Sizes, WorkloadName } from "./options.ts";
import { freePort, peerCommand, type PeerContext, type RunningPeer } from "./peers.ts";
import { run, spawn } from "./process.ts";
import { hardNofile, treeCpuSeconds, treeMemory } from "./proc_stat.ts";
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
): Promise<Record<string, number>> {
  const argv = [peer.spec.transport, "127.0.0.1", String(peer.port), ...args.map(String)];
  const { code, output } = await run("bench_client", ctx.tools.client, argv, {
    timeoutMs: ctx.sizes.timeoutMs,
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

/** How many idle sessions a peer is given (fd limit and fork-per-session caps). */
export function idleCount(peer: RunningPeer, sizes: Sizes): number {
  if (peer.spec.forks) return Math.min(sizes.idle, sizes.idleForking);
  // a single process holds two descriptors per session (client side and target side)
  return Math.min(sizes.idle, Math.floor((hardNofile() - 64) / 2));
}

/** A new instance of `peer` on a free port, started and proven by one session. */
async function freshInstance(
  ctx: WorkloadContext,
  peer: RunningPeer,
): Promise<{ peer: RunningPeer; ms: number }> {
  const port = freePort();
  const command = peerCommand(peer.spec, port, ctx.peerContext);
  if ("unavailable" in command) throw new Error(command.unavailable);
  const t0 = performance.now();
  const proc = spawn(`${peer.spec.name} (fresh)`, command.cmd, command.args);
  const fresh = { ...peer, port, proc };
  try {
    await client(ctx, fresh, ["probe", 30_000]);
  } catch (e) {
    await proc.stop();
    throw e;
  }
  return { peer: fresh, ms: performance.now() - t0 };
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
    await c.waitFor(
      (out) => out.includes('"ready"') || out.includes('"error"'),
      ctx.sizes.timeoutMs,
    );
    const err = c.output().match(/"error":"([^"]*)"/);
    if (err) throw new Error(err[1]);
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
  return { burst_rate: r.sessions / r.secs };
}

/** Times spawn → first session through a fresh instance. */
async function startup(ctx: WorkloadContext, peer: RunningPeer): Promise<Measured> {
  const { peer: fresh, ms } = await freshInstance(ctx, peer);
  await fresh.proc!.stop();
  return { startup_ms: ms };
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
  conc: { name: "conc", appliesTo: plainOnly, run: conc },
  idle: { name: "idle", appliesTo: plainProxy, run: idle },
  burst: { name: "burst", appliesTo: plainOnly, run: burst },
  startup: { name: "startup", appliesTo: plainProxy, run: startup },
};
