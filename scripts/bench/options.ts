/**
 * Command-line options of `deno task bench` and the workload sizes of the
 * full and `--quick` runs.
 * @module
 */

import { parseArgs } from "node:util";
import { PEER_NAMES, type PeerName } from "./peers.ts";

/** Workload names, in run order. */
export const WORKLOAD_NAMES = [
  "down",
  "up",
  "rtt",
  "rfb",
  "policy",
  "conc",
  "idle",
  "burst",
  "startup",
  "ticks",
  "fleet",
] as const;

/** One of {@linkcode WORKLOAD_NAMES}. */
export type WorkloadName = typeof WORKLOAD_NAMES[number];

/** How much each workload moves. */
export interface Sizes {
  /** Bytes for down and up. */
  bulk: number;
  /** Measured round trips (a warm-up of up to 500 comes first). */
  rttCount: number;
  rttSize: number;
  /** RFB-shaped update exchanges. */
  rfbUpdates: number;
  /** Parallel session counts, and the total bytes each count moves down. */
  conc: number[];
  concBytes: number;
  /** Idle sessions for single-process relays, and for fork-per-session relays. */
  idle: number;
  idleForking: number;
  /** Sessions in the handshake burst, and how many are opened at a time. */
  burst: number;
  burstParallel: number;
  rounds: number;
  /** Per client run. */
  timeoutMs: number;
  /** Ticking sessions for single-process relays, and for fork-per-session relays. */
  ticks: number;
  ticksForking: number;
  /** Seconds measured, and bytes in each once-a-second update. */
  ticksSecs: number;
  ticksSize: number;
  /** vncws's `--heartbeat` in the second ticks run (its window lasts at least this long). */
  ticksHeartbeat: number;
  /**
   * The fleet workload (issue 20): ticking sessions with `--heartbeat` this
   * many seconds and `--session-idle-timeout` {@linkcode Sizes.fleetIdle},
   * each update {@linkcode Sizes.fleetSize} bytes; the window is one heartbeat.
   */
  fleetHeartbeat: number;
  fleetIdle: number;
  fleetSize: number;
}

const MiB = 1024 * 1024;

/** Sizes of a full run (the workloads). */
export const FULL: Sizes = {
  bulk: 1024 * MiB,
  rttCount: 10_000,
  rttSize: 64,
  rfbUpdates: 1000,
  conc: [1, 10, 100],
  concBytes: 512 * MiB,
  idle: 10_000,
  idleForking: 200,
  burst: 1000,
  burstParallel: 50,
  rounds: 5,
  timeoutMs: 300_000,
  ticks: 10_000,
  ticksForking: 200,
  ticksSecs: 20,
  ticksSize: 100,
  ticksHeartbeat: 30,
  fleetHeartbeat: 30,
  fleetIdle: 3600,
  fleetSize: 200,
};

/** Sizes of `--quick` (CI: proves the bench works, in seconds). */
export const QUICK: Sizes = {
  bulk: 32 * MiB,
  rttCount: 1000,
  rttSize: 64,
  rfbUpdates: 100,
  conc: [1, 10, 100],
  concBytes: 32 * MiB,
  idle: 200,
  idleForking: 200,
  burst: 200,
  burstParallel: 20,
  rounds: 1,
  timeoutMs: 60_000,
  ticks: 500,
  ticksForking: 100,
  ticksSecs: 5,
  ticksSize: 100,
  ticksHeartbeat: 5,
  fleetHeartbeat: 5,
  fleetIdle: 3600,
  fleetSize: 200,
};

/** Parsed command line. */
export interface BenchOptions {
  quick: boolean;
  sizes: Sizes;
  peers: PeerName[];
  workloads: WorkloadName[];
  /** Markdown results file, or undefined for none. */
  out?: string;
  /** Run vncws under `--cpu-prof`, writing profiles into this directory. */
  cpuProf?: string;
  /** vncws's main.ts to run instead of this checkout's (A/B against another commit). */
  vncwsMain?: string;
  help: boolean;
}

/** Usage text for `--help`. */
export const USAGE = `usage: deno task bench [--quick] [--rounds N] [--out FILE]
                       [--peers a,b] [--workloads a,b] [--cpu-prof DIR]
                       [--vncws-main PATH]
  --quick          small sizes, one round (seconds; what CI runs)
  --rounds N       rounds (default 5, quick 1); peers alternate order each round
  --out FILE       results file (default docs/bench.md for a full run of everything;
                   "-" for none)
  --peers LIST     subset of: ${PEER_NAMES.join(", ")}
  --workloads LIST subset of: ${WORKLOAD_NAMES.join(", ")}
                   (policy: the RFB workload after a real RFB handshake, through vncws
                   plain, --view-only and --clipboard none; vncws only)
  --cpu-prof DIR   run vncws with deno --cpu-prof (profiles land in DIR when it exits)
  --vncws-main P   run vncws from P (another checkout's main.ts) for an A/B run;
                   results then go nowhere unless --out is given`;

function pickList<T extends string>(value: string | undefined, all: readonly T[], what: string) {
  if (value === undefined) return [...all];
  const names = value.split(",").map((s) => s.trim()).filter((s) => s !== "");
  for (const n of names) {
    if (!all.includes(n as T)) {
      throw new Error(`unknown ${what} "${n}": use one of ${all.join(", ")}`);
    }
  }
  // keep the canonical order whatever order was typed
  return all.filter((n) => names.includes(n));
}

/** Parses `deno task bench` arguments. */
export function parseOptions(args: string[]): BenchOptions {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      rounds: { type: "string" },
      out: { type: "string" },
      peers: { type: "string" },
      workloads: { type: "string" },
      "cpu-prof": { type: "string" },
      "vncws-main": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const sizes = { ...(values.quick ? QUICK : FULL) };
  if (values.rounds !== undefined) {
    const n = Number(values.rounds);
    if (!Number.isInteger(n) || n < 1) {
      throw new Error(`--rounds must be a positive integer, got "${values.rounds}"`);
    }
    sizes.rounds = n;
  }
  const peers = pickList(values.peers, PEER_NAMES, "peer");
  const workloads = pickList(values.workloads, WORKLOAD_NAMES, "workload");
  const everything = peers.length === PEER_NAMES.length &&
    workloads.length === WORKLOAD_NAMES.length;
  let out = values.out;
  if (out === "-") out = undefined;
  else if (
    out === undefined && !values.quick && everything && !values["cpu-prof"] &&
    !values["vncws-main"]
  ) {
    out = "docs/bench.md";
  }
  return {
    quick: values.quick,
    sizes,
    peers,
    workloads,
    out,
    cpuProf: values["cpu-prof"],
    vncwsMain: values["vncws-main"],
    help: values.help,
  };
}
