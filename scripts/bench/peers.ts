/**
 * The relays compared by the bench and how each is started, reached and stopped.
 * @module
 */

import { ROOT } from "./build.ts";
import { spawn, type Spawned } from "./process.ts";
import { exists } from "../../src/base/fs.ts";
import { sleep } from "../../src/base/time.ts";

/** How the load client talks to a peer. */
export type Transport = "tcp" | "ws" | "wss";

/** Names of the peers, in table order. */
export const PEER_NAMES = [
  "direct",
  "socat",
  "websockify",
  "vncws",
  "vncws workers=2",
  "websockify wss",
  "vncws wss",
  "vncws wss shared",
] as const;

/** One of {@linkcode PEER_NAMES}. */
export type PeerName = typeof PEER_NAMES[number];

/** Static facts about a peer. */
export interface PeerSpec {
  name: PeerName;
  transport: Transport;
  /** False for `direct`: nothing between client and target, so no proxy CPU or memory. */
  proxy: boolean;
  /** Forks a process per session (idle-session count is capped for these). */
  forks: boolean;
  /** The same relay without TLS, for wss-versus-plain comparisons. */
  plain?: PeerName;
}

/** All peer specs by name. */
export const PEERS: Record<PeerName, PeerSpec> = {
  direct: { name: "direct", transport: "tcp", proxy: false, forks: false },
  socat: { name: "socat", transport: "tcp", proxy: true, forks: true },
  websockify: { name: "websockify", transport: "ws", proxy: true, forks: true },
  vncws: { name: "vncws", transport: "ws", proxy: true, forks: false },
  // Two relay processes sharing the port (--workers 2); CPU and memory count the whole tree.
  "vncws workers=2": { name: "vncws workers=2", transport: "ws", proxy: true, forks: false },
  "websockify wss": {
    name: "websockify wss",
    transport: "wss",
    proxy: true,
    forks: true,
    plain: "websockify",
  },
  "vncws wss": { name: "vncws wss", transport: "wss", proxy: true, forks: false, plain: "vncws" },
  "vncws wss shared": {
    name: "vncws wss shared",
    transport: "wss",
    proxy: true,
    forks: false,
    plain: "vncws",
  },
};

/** Where vncws is started from. */
export const VNCWS_MAIN = `${ROOT}main.ts`;

/** What starting a peer needs. */
export interface PeerContext {
  targetPort: number;
  /** The target's RFB port (an RFB server: handshake first), for the policy workload. */
  rfbTargetPort?: number;
  /** PEM files for the wss peers. */
  cert?: string;
  key?: string;
  /** When set, vncws runs under `deno run --cpu-prof` writing profiles here. */
  cpuProfDir?: string;
  /** vncws's main.ts when not this checkout's (`--vncws-main`, A/B runs). */
  vncwsMain?: string;
  /** Extra vncws options for one instance (the ticks workload's `--heartbeat` run). */
  vncwsArgs?: string[];
  /** Extra websockify options for one instance (the fleet workload's `--heartbeat`). */
  websockifyArgs?: string[];
}

/** A started peer (or the reason it cannot run here). */
export interface RunningPeer {
  spec: PeerSpec;
  port: number;
  proc?: Spawned;
  /** Set when the peer cannot run (shown as "n/a (...)" in every cell). */
  unavailable?: string;
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Command line starting `spec` on `port`, or a reason it cannot run. */
export function peerCommand(
  spec: PeerSpec,
  port: number,
  ctx: PeerContext,
): { cmd: string; args: string[] } | { unavailable: string } {
  const listen = `127.0.0.1:${port}`;
  const target = `127.0.0.1:${ctx.targetPort}`;
  const tls = spec.transport === "wss";
  if (tls && !(ctx.cert && ctx.key)) return { unavailable: "no certificate (openssl missing?)" };
  // wss rows serve TLS clients only (--ssl-only), as a wss deployment does; "vncws wss
  // shared" serves TLS and plain clients on one port, which costs vncws more (the TLS runs
  // over a Deno socket, not natively: README, TLS).
  const tlsArgs = tls ? ["--cert", ctx.cert!, "--key", ctx.key!] : [];
  if (tls && spec.name !== "vncws wss shared") tlsArgs.push("--ssl-only");
  // a token plugin names the targets; a fixed one beside it is refused
  const targetArg = (extra: string[]) => extra.includes("--token-plugin") ? [] : [target];
  switch (spec.name) {
    case "direct":
      return { unavailable: "no proxy" };
    case "socat":
      return {
        cmd: "socat",
        // 64 KiB blocks (the relays' read size; socat's default 8 KiB doubles its CPU) and
        // TCP_NODELAY (without it small VNC messages stall on Nagle + delayed ACK), and a
        // listen backlog like the others' (socat's default of 5 drops parallel connects)
        args: [
          "-b",
          "65536",
          `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork,nodelay,backlog=4096`,
          `TCP:${target},nodelay`,
        ],
      };
    case "websockify":
    case "websockify wss": {
      const extra = ctx.websockifyArgs ?? [];
      return { cmd: "websockify", args: [...tlsArgs, ...extra, listen, ...targetArg(extra)] };
    }
    case "vncws":
    case "vncws workers=2":
    case "vncws wss":
    case "vncws wss shared": {
      const main = ctx.vncwsMain ?? VNCWS_MAIN;
      if (!exists(main)) return { unavailable: `${main} not found` };
      const prof = ctx.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${ctx.cpuProfDir}`] : [];
      // the default cap (1024 sessions, then 503) is below the 10 000 idle sessions asked for
      const limits = ["--max-connections", "20000"];
      if (spec.name === "vncws workers=2") limits.push("--workers", "2");
      const extra = ctx.vncwsArgs ?? [];
      return {
        cmd: Deno.execPath(),
        args: [
          "run",
          "-A",
          ...prof,
          main,
          ...limits,
          ...tlsArgs,
          ...extra,
          listen,
          ...targetArg(extra),
        ],
      };
    }
  }
}

/** Resolves once something accepts TCP connections on `port`. */
async function waitListening(proc: Spawned, port: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (proc.exited) {
      throw new Error(`${proc.name} exited at start: ${proc.output().slice(-1500).trim()}`);
    }
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      return;
    } catch {
      if (performance.now() > deadline) {
        throw new Error(
          `${proc.name} not listening on ${port} after ${timeoutMs} ms: ${
            proc.output().slice(-1500).trim()
          }`,
        );
      }
      await sleep(20);
    }
  }
}

/** Resolves once `proc` has written `pattern`. */
async function waitOutput(proc: Spawned, pattern: RegExp, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!pattern.test(proc.output())) {
    if (proc.exited || performance.now() > deadline) {
      throw new Error(
        `${proc.name} did not write ${pattern}: ${proc.output().slice(-1500).trim()}`,
      );
    }
    await sleep(20);
  }
}

/** Text in a vncws failure that means "this feature is not built yet", not a bug. */
const NOT_IMPLEMENTED = /not (supported|implemented) yet/i;

/** Starts a peer and waits until it accepts connections. */
export async function startPeer(spec: PeerSpec, ctx: PeerContext): Promise<RunningPeer> {
  if (!spec.proxy) return { spec, port: ctx.targetPort };
  const port = freePort();
  const command = peerCommand(spec, port, ctx);
  if ("unavailable" in command) return { spec, port, unavailable: command.unavailable };
  const proc = spawn(spec.name, command.cmd, command.args);
  try {
    await waitListening(proc, port, 60_000);
    // The first worker accepts before the others listen: wait for the parent's line.
    if (spec.name === "vncws workers=2") {
      await waitOutput(proc, /listening on \S+ workers=2/, 60_000);
    }
  } catch (e) {
    await proc.stop();
    if (NOT_IMPLEMENTED.test(proc.output())) {
      return { spec, port, unavailable: "not implemented" };
    }
    throw e;
  }
  return { spec, port, proc };
}
