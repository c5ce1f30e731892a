/**
 * `deno task bench`: vncws against direct TCP, socat and websockify in one
 * interleaved run (issue 8). Prints markdown tables and the goals, and writes
 * them to docs/bench.md on a full run. See `--help`.
 * @module
 */

import { buildTools } from "./bench/build.ts";
import { makeSelfSigned, type SelfSigned } from "./bench/certs.ts";
import { denoVersion, describeMachine, peerVersions } from "./bench/machine.ts";
import { parseOptions, type Sizes, USAGE } from "./bench/options.ts";
import { type PeerContext, PEERS, type RunningPeer, startPeer } from "./bench/peers.ts";
import { spawn, type Spawned, stopAll } from "./bench/process.ts";
import { checkGoals, keepAnalysis, renderMarkdown, Results } from "./bench/report.ts";
import {
  idleCount,
  ticksCount,
  TOKEN_FILE_ENTRIES,
  type WorkloadContext,
  WORKLOADS,
} from "./bench/workloads.ts";

async function startTarget(
  path: string,
): Promise<{ proc: Spawned; port: number; rfbPort: number }> {
  const proc = spawn("bench_target", path, ["0", "0"]);
  await proc.waitFor((out) => /rfb-listening \d+/.test(out), 10_000);
  const out = proc.output();
  return {
    proc,
    port: Number(out.match(/^listening (\d+)/m)![1]),
    rfbPort: Number(out.match(/rfb-listening (\d+)/)![1]),
  };
}

function notes(peers: RunningPeer[], ctx: WorkloadContext): string[] {
  const s = ctx.sizes;
  const idle = peers.filter((p) => WORKLOADS.idle.appliesTo(p) && !p.unavailable)
    .map((p) => `${p.spec.name} ${idleCount(p, s)}`).join(", ");
  return [
    "Client, relay and target share this machine's cores, and other engineers' test " +
    "suites may run at the same time: single runs vary; compare medians, and prefer the " +
    "CPU-per-GiB columns (the steadiest figure on a shared machine).",
    "Load client and target are C (scripts/bench/client.c, target.c, built with cc -O2); " +
    "`direct` is the client straight to the target and shows the client is not the bottleneck.",
    `down/up: ${s.bulk / 2 ** 20} MiB in 64 KiB writes / masked 64 KiB WebSocket messages; ` +
    `RTT: ${s.rttCount} sequential ${s.rttSize}-byte round trips after a warm-up; ` +
    `RFB: ${s.rfbUpdates} request/update exchanges shaped like a VNC session (two ` +
    "PointerEvents + FramebufferUpdateRequest up, Raw rectangles down: 35% 8×8, 25% 16×16, " +
    "30% 64×64, 9% 256×256, 1% 1024×768; the target coalesces writes in a 30 000-byte " +
    "buffer as libvncserver does).",
    `concurrency: ${s.concBytes / 2 ** 20} MiB down in total, split over ` +
    `${s.conc.join(" / ")} parallel sessions; aggregate MB/s.`,
    `idle: a fresh instance of the proxy (one session first, then the baseline) holds ` +
    `sessions open, each proven with one echo through to the target; memory growth of ` +
    `its process tree per session: ${idle}. RSS sums every process of the ` +
    "tree, so a forking relay's shared pages count once per child (PSS splits them). " +
    "Forking relays (websockify, socat) get fewer sessions: each is a process. " +
    "A single process needs two descriptors per session and the hard open-file limit " +
    "here cannot be raised (no CAP_SYS_RESOURCE), hence fewer than 10 000 when it is 20 000.",
    `sessions/s: ${s.burst} sessions, ${s.burstParallel} at a time, each connect + ` +
    "WebSocket handshake + one echo through to the target + close (websockify answers " +
    "101 before it connects the target, so the echo keeps the comparison fair).",
    "startup: spawn of a fresh instance to the first session that echoes through it.",
    "socat runs as `socat -b 65536 TCP-LISTEN:P,bind=127.0.0.1,reuseaddr,fork,nodelay," +
    "backlog=4096 TCP:127.0.0.1:T,nodelay` (one process per connection): the floor for a " +
    "userspace relay. Its defaults are worse: 8 KiB blocks cost about twice the CPU per GiB " +
    "(2.0 vs 0.9 s/GiB down, measured here), without nodelay the RFB workload stalls on " +
    "Nagle + delayed ACK (5 MB/s), and its listen backlog of 5 drops parallel connects " +
    "(100 sessions: 78 MB/s). websockify as " +
    "`websockify 127.0.0.1:P 127.0.0.1:T` (one process per connection); vncws as " +
    "`deno run -A main.ts --max-connections 20000 127.0.0.1:P 127.0.0.1:T` (its default " +
    "cap of 1024 sessions would refuse the idle test); wss rows add `--cert --key --ssl-only` " +
    "(self-signed RSA 2048, client does not verify), and `vncws wss shared` adds " +
    "`--cert --key` alone: TLS and plain clients on one port, where vncws runs TLS over a " +
    "Deno socket instead of natively. `vncws workers=2` adds `--workers 2`: two relay " +
    "processes share the port (SO_REUSEPORT; the kernel spreads sessions by source port, so " +
    "one session uses one worker) and its CPU and memory are the whole process tree's.",
    "wss compares like with like: `websockify wss` and `vncws wss` both run `--ssl-only` " +
    "with the same certificate, so each serves TLS clients only.",
    ticksNote(peers, s),
    `RFB policy: the RFB workload (${s.rfbUpdates} exchanges) after a real RFB 3.8 handshake ` +
    "(security None, then SetEncodings) against the target's RFB port, through fresh vncws " +
    "instances: plain, `--view-only` (the viewer's stream framed: its PointerEvents dropped) " +
    "and `--clipboard none` (both streams framed: every rectangle header read), in alternating " +
    "order; CPU is the instance's per GiB relayed.",
    `fleet (issue 20): the ticks sessions with ${s.fleetSize}-byte updates, vncws with ` +
    `\`--heartbeat ${s.fleetHeartbeat} --session-idle-timeout ${s.fleetIdle}\` and websockify ` +
    `with \`--heartbeat ${s.fleetHeartbeat}\` (it has no per-session idle timeout), over a ` +
    `window of ${Math.max(s.ticksSecs, s.fleetHeartbeat)} s; websockify forks a process per ` +
    `session, so it holds ${s.ticksForking}.`,
    `sessions/s with a token file: the burst again through a fresh instance started with ` +
    `\`--token-plugin TokenFile --token-source FILE\` (${TOKEN_FILE_ENTRIES} lines, its mtime ` +
    "a minute old: vncws re-parses a file changed in the last 2 s on every lookup), every " +
    "session asking for the last token (`/?token=…`).",
  ];
}

/** The busy-sessions (ticks) note: what runs and how many sessions each peer holds. */
function ticksNote(peers: RunningPeer[], s: Sizes): string {
  const counts = peers.filter((p) => WORKLOADS.ticks.appliesTo(p) && !p.unavailable)
    .map((p) => `${p.spec.name} ${ticksCount(p, s)}`).join(", ");
  return `busy sessions (ticks): a fresh instance of each proxy holds sessions (${counts}) ` +
    `to which the target writes ${s.ticksSize} bytes once a second (spread over the second, ` +
    "as independent desktops would); after a second's warm-up the client counts the updates " +
    `it receives for ${s.ticksSecs} s while the proxy's CPU is read from /proc (percent of one ` +
    "core, and per update), then its RSS with every session still open (per session: above " +
    "the fresh instance's baseline). Every session must receive updates, or the run fails. " +
    `The heartbeat columns rerun vncws with \`--heartbeat ${s.ticksHeartbeat}\` over a ` +
    `window of ${Math.max(s.ticksSecs, s.ticksHeartbeat)} s, so each session pings (and the ` +
    "client pongs) about once in it. Forking relays get fewer sessions (a process each).";
}

async function main(): Promise<number> {
  const opts = parseOptions(Deno.args);
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  const results = new Results();
  let certs: SelfSigned | undefined;
  let interrupted = false;
  const stopping = async () => {
    interrupted = true;
    await stopAll();
    if (certs) await Deno.remove(certs.dir, { recursive: true }).catch(() => {});
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", stopping);
  Deno.addSignalListener("SIGTERM", stopping);
  try {
    // described before the run: the load average says how busy the machine was beforehand
    const date = new Date().toISOString();
    const machine = await describeMachine();
    const tools = await buildTools();
    const specs = opts.peers.map((n) => PEERS[n]);
    if (specs.some((s) => s.transport === "wss")) certs = await makeSelfSigned();
    const target = await startTarget(tools.target);
    const peerContext: PeerContext = {
      targetPort: target.port,
      rfbTargetPort: target.rfbPort,
      cert: certs?.cert,
      key: certs?.key,
      cpuProfDir: opts.cpuProf,
      vncwsMain: opts.vncwsMain,
    };
    const peers: RunningPeer[] = [];
    for (const spec of specs) {
      try {
        const p = await startPeer(spec, peerContext);
        peers.push(p);
        if (p.unavailable) results.unavailable.set(spec.name, p.unavailable);
      } catch (e) {
        results.unavailable.set(spec.name, "did not start");
        results.fail(spec.name, "down", (e as Error).message);
      }
    }
    const ctx: WorkloadContext = { tools, sizes: opts.sizes, peerContext };
    for (const p of peers) {
      results.applies.set(
        p.spec.name,
        new Set(opts.workloads.filter((w) => WORKLOADS[w].appliesTo(p))),
      );
    }
    const runnable = peers.filter((p) => !p.unavailable);
    for (let round = 0; round < opts.sizes.rounds; round++) {
      const order = round % 2 === 0 ? runnable : [...runnable].reverse();
      for (const w of opts.workloads) {
        for (const peer of order) {
          if (interrupted) return 130;
          if (!WORKLOADS[w].appliesTo(peer)) continue;
          const label = `round ${round + 1}/${opts.sizes.rounds} ${w} ${peer.spec.name}`;
          const t0 = performance.now();
          try {
            const measured = await WORKLOADS[w].run(ctx, peer);
            results.add(peer.spec.name, measured);
            const shown = Object.entries(measured).map(([k, v]) => `${k}=${v.toFixed(1)}`);
            console.error(
              `${label}: ${shown.join(" ")} (${Math.round(performance.now() - t0)} ms)`,
            );
          } catch (e) {
            results.fail(peer.spec.name, w, (e as Error).message);
            console.error(`${label}: error: ${(e as Error).message}`);
          }
          if (peer.proc?.exited) {
            results.fail(peer.spec.name, w, `exited: ${peer.proc.output().slice(-500)}`);
          }
        }
      }
    }
    if (interrupted) return 130;
    for (const p of peers) await p.proc?.stop();
    await target.proc.stop();
    const command = ["deno task bench", ...Deno.args].join(" ");
    const markdown = renderMarkdown(results, opts.sizes, {
      date,
      machine,
      deno: await denoVersion(),
      command,
      peers: await peerVersions(),
      notes: notes(peers, ctx),
    });
    console.log(markdown);
    if (opts.out) {
      const dir = opts.out.includes("/") ? opts.out.slice(0, opts.out.lastIndexOf("/")) : ".";
      await Deno.mkdir(dir, { recursive: true });
      const previous = await Deno.readTextFile(opts.out).catch(() => undefined);
      await Deno.writeTextFile(opts.out, keepAnalysis(markdown, previous));
      console.error(`results written to ${opts.out}`);
    }
    const missed = checkGoals(results, opts.sizes).filter((g) => g.status === "NOT met").length;
    console.error(
      `${results.errorCount()} error(s); ${missed} goal(s) not met` +
        (opts.quick ? " (quick sizes: indicative only)" : ""),
    );
    return results.errorCount() > 0 ? 1 : 0;
  } finally {
    await stopAll();
    if (certs) await Deno.remove(certs.dir, { recursive: true }).catch(() => {});
    Deno.removeSignalListener("SIGINT", stopping);
    Deno.removeSignalListener("SIGTERM", stopping);
  }
}

if (import.meta.main) Deno.exit(await main());
