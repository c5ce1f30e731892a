/**
 * Results of a bench run: per-round values, medians with min–max, ratio
 * tables, the issue's goals checked, and the markdown written to docs/bench.md.
 * @module
 */

import type { Sizes, WorkloadName } from "./options.ts";
import { PEER_NAMES, type PeerName, PEERS } from "./peers.ts";

/** A measured quantity shown in a table column. */
export interface Metric {
  id: string;
  label: string;
  workload: WorkloadName;
  digits: number;
}

const m = (id: string, label: string, workload: WorkloadName, digits = 0): Metric => ({
  id,
  label,
  workload,
  digits,
});

/** The metrics of one run of ticking sessions (workloads.ts ticksMeasured), under `prefix`. */
function busyMetrics(prefix: "ticks" | "fleet", sessions: string): Metric[] {
  return [
    m(`${prefix}_n`, sessions, prefix),
    m(`${prefix}_rate`, "updates/s", prefix),
    m(`${prefix}_cpu`, "CPU % of a core", prefix, 1),
    m(`${prefix}_us`, "CPU µs/update", prefix, 1),
    m(`${prefix}_rss`, "RSS MiB", prefix),
    m(`${prefix}_kib`, "RSS KiB/session", prefix, 1),
  ];
}

/** Every metric the workloads produce. */
export const METRICS: Record<string, Metric> = Object.fromEntries([
  m("down_mbs", "down MB/s", "down"),
  m("down_cpu", "down CPU s/GiB", "down", 2),
  m("up_mbs", "up MB/s", "up"),
  m("up_cpu", "up CPU s/GiB", "up", 2),
  m("rfb_mbs", "RFB MB/s", "rfb"),
  m("rfb_ups", "RFB updates/s", "rfb"),
  m("rfb_cpu", "RFB CPU s/GiB", "rfb", 2),
  m("rtt_p50", "RTT p50 µs", "rtt"),
  m("rtt_p99", "RTT p99 µs", "rtt"),
  m("rtt_cpu", "RTT CPU µs/trip", "rtt"),
  m("conc1_mbs", "1 session MB/s", "conc"),
  m("conc10_mbs", "10 sessions MB/s", "conc"),
  m("conc100_mbs", "100 sessions MB/s", "conc"),
  m("idle_n", "idle sessions", "idle"),
  m("idle_rss", "RSS KiB/session", "idle", 1),
  m("idle_pss", "PSS KiB/session", "idle", 1),
  m("burst_rate", "sessions/s", "burst"),
  m("burst_tok_rate", "sessions/s, 10 000-token file", "burst"),
  m("startup_ms", "startup ms", "startup"),
  m("policy_plain_mbs", "RFB policy: plain relay MB/s", "policy"),
  m("policy_plain_cpu", "RFB policy: plain relay CPU s/GiB", "policy", 2),
  m("policy_vo_mbs", "RFB policy: --view-only MB/s", "policy"),
  m("policy_vo_cpu", "RFB policy: --view-only CPU s/GiB", "policy", 2),
  m("policy_clip_mbs", "RFB policy: --clipboard none MB/s", "policy"),
  m("policy_clip_cpu", "RFB policy: --clipboard none CPU s/GiB", "policy", 2),
  ...busyMetrics("ticks", "busy sessions"),
  m("ticks_hb_rate", "heartbeat: updates/s", "ticks"),
  m("ticks_hb_cpu", "heartbeat: CPU %", "ticks", 1),
  m("ticks_hb_us", "heartbeat: CPU µs/update", "ticks", 1),
  m("ticks_hb_kib", "heartbeat: RSS KiB/session", "ticks", 1),
  ...busyMetrics("fleet", "sessions"),
].map((x) => [x.id, x]));

/** Columns of the busy-sessions table (the ticks workload). */
export const TICKS_COLUMNS = [
  "ticks_n",
  "ticks_rate",
  "ticks_cpu",
  "ticks_us",
  "ticks_rss",
  "ticks_kib",
  "ticks_hb_rate",
  "ticks_hb_cpu",
  "ticks_hb_us",
  "ticks_hb_kib",
];

/** Everything collected during a run. */
export class Results {
  /** peer → metric id → one value per round. */
  readonly values = new Map<PeerName, Map<string, number[]>>();
  /** peer → workload → error text (last one wins). */
  readonly errors = new Map<PeerName, Map<WorkloadName, string>>();
  /** peer → why it could not run at all. */
  readonly unavailable = new Map<PeerName, string>();
  /** peer → workloads that apply to it. */
  readonly applies = new Map<PeerName, Set<WorkloadName>>();

  /** Records one round's measurements. */
  add(peer: PeerName, measured: Record<string, number>): void {
    const byMetric = this.values.get(peer) ?? new Map<string, number[]>();
    this.values.set(peer, byMetric);
    for (const [id, v] of Object.entries(measured)) {
      if (!Number.isFinite(v)) continue;
      byMetric.set(id, [...(byMetric.get(id) ?? []), v]);
    }
  }

  /** Records a failed workload run. */
  fail(peer: PeerName, workload: WorkloadName, message: string): void {
    const byWorkload = this.errors.get(peer) ?? new Map<WorkloadName, string>();
    this.errors.set(peer, byWorkload);
    byWorkload.set(workload, message);
  }

  /** Median over rounds, or undefined when nothing was measured. */
  median(peer: PeerName, id: string): number | undefined {
    const v = this.values.get(peer)?.get(id);
    if (!v || v.length === 0) return undefined;
    const s = [...v].sort((a, b) => a - b);
    const mid = Math.floor(s.length / 2);
    return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  }

  /** Number of recorded errors. */
  errorCount(): number {
    let n = 0;
    for (const e of this.errors.values()) n += e.size;
    return n;
  }
}

function fmt(v: number, digits: number): string {
  return v.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).replaceAll(",", " ");
}

/** One table cell: "median (min–max)", "–" (not applicable), "n/a (...)" or "error". */
function cell(r: Results, peer: PeerName, metric: Metric): string {
  const why = r.unavailable.get(peer);
  if (why) return `n/a (${why})`;
  if (!r.applies.get(peer)?.has(metric.workload)) return "–";
  if (metric.id.endsWith("_cpu") && !PEERS[peer].proxy) return "–";
  const v = r.values.get(peer)?.get(metric.id);
  if (!v || v.length === 0) return r.errors.get(peer)?.has(metric.workload) ? "error" : "–";
  const med = r.median(peer, metric.id)!;
  if (v.length === 1) return fmt(med, metric.digits);
  return `${fmt(med, metric.digits)} (${fmt(Math.min(...v), metric.digits)}–${
    fmt(Math.max(...v), metric.digits)
  })`;
}

function table(header: string[], rows: string[][]): string {
  const lines = [
    `| ${header.join(" | ")} |`,
    `|${header.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`,
    ...rows.map((row) => `| ${row.join(" | ")} |`),
  ];
  return lines.join("\n");
}

function metricTable(r: Results, peers: PeerName[], ids: string[]): string {
  const metrics = ids.map((id) => METRICS[id]).filter((x) => x !== undefined);
  // drop columns that no peer measured and no peer failed (e.g. workloads not selected)
  const shown = metrics.filter((x) =>
    peers.some((p) => r.applies.get(p)?.has(x.workload) && !r.unavailable.has(p))
  );
  if (shown.length === 0) return "";
  return table(
    ["peer", ...shown.map((x) => x.label)],
    peers.map((p) => [p, ...shown.map((x) => cell(r, p, x))]),
  );
}

/** The reference websockify row for a peer: the same transport (ws or wss). */
function websockifyFor(peer: PeerName): PeerName {
  return PEERS[peer].transport === "wss" ? "websockify wss" : "websockify";
}

function ratio(r: Results, a: PeerName, b: PeerName, id: string): string {
  if (a === b) return "1.00";
  const x = r.median(a, id);
  const y = r.median(b, id);
  if (x === undefined || y === undefined || y === 0) return "–";
  return `${(x / y).toFixed(2)}×`;
}

function ratioTable(r: Results, peers: PeerName[]): string {
  const cols: Array<[string, string, "ws" | "socat"]> = [
    ["down MB/s ÷ websockify", "down_mbs", "ws"],
    ["down MB/s ÷ socat", "down_mbs", "socat"],
    ["up MB/s ÷ websockify", "up_mbs", "ws"],
    ["up MB/s ÷ socat", "up_mbs", "socat"],
    ["down CPU ÷ websockify", "down_cpu", "ws"],
    ["down CPU ÷ socat", "down_cpu", "socat"],
    ["up CPU ÷ websockify", "up_cpu", "ws"],
    ["up CPU ÷ socat", "up_cpu", "socat"],
    ["RFB MB/s ÷ websockify", "rfb_mbs", "ws"],
    ["sessions/s ÷ websockify", "burst_rate", "ws"],
  ];
  const rows = peers.filter((p) => !r.unavailable.has(p)).map((p) => [
    p,
    ...cols.map(([, id, ref]) => {
      if (id.endsWith("_cpu") && !PEERS[p].proxy) return "–";
      return ratio(r, p, ref === "ws" ? websockifyFor(p) : "socat", id);
    }),
    PEERS[p].proxy ? within(r, p, "up_cpu", "down_cpu") : "–",
    within(r, p, "up_mbs", "down_mbs"),
    added(r, p),
  ]);
  return table([
    "peer",
    ...cols.map((c) => c[0]),
    "up CPU ÷ down CPU",
    "up MB/s ÷ down MB/s",
    "added RTT p50 µs (vs direct)",
  ], rows);
}

/** One peer's `a` ÷ `b` (medians of the same run), e.g. up against down. */
function within(r: Results, p: PeerName, a: string, b: string): string {
  const x = r.median(p, a);
  const y = r.median(p, b);
  return x === undefined || y === undefined || y === 0 ? "–" : `${(x / y).toFixed(2)}×`;
}

function added(r: Results, p: PeerName): string {
  const x = r.median(p, "rtt_p50");
  const d = r.median("direct", "rtt_p50");
  if (x === undefined || d === undefined || p === "direct") return "–";
  return fmt(x - d, 0);
}

/** One of the issue's goals and whether this run meets it. */
export interface GoalCheck {
  goal: string;
  measured: string;
  status: "met" | "NOT met" | "n/a";
}

/** A goal check: pushes the result of `ok` over the medians in `parts` onto a list. */
type Check = (
  goal: string,
  parts: Array<number | undefined>,
  ok: (...v: number[]) => boolean,
  measured: (...v: number[]) => string,
  missing?: string,
) => void;

function checker(out: GoalCheck[]): Check {
  return (goal, parts, ok, measured, missing = "not measured") => {
    if (parts.some((x) => x === undefined)) {
      out.push({ goal, measured: missing, status: "n/a" });
      return;
    }
    const v = parts as number[];
    out.push({ goal, measured: measured(...v), status: ok(...v) ? "met" : "NOT met" });
  };
}

/** Checks issue 20's goals (upstream cost, an idle fleet, handshakes) against this run. */
export function checkGoals20(r: Results, sizes: Sizes): GoalCheck[] {
  const med = (p: PeerName, id: string) => r.unavailable.has(p) ? undefined : r.median(p, id);
  const out: GoalCheck[] = [];
  const check = checker(out);
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  check(
    "up CPU s/GiB ≤ 1.15× down CPU s/GiB (same run)",
    [med("vncws", "up_cpu"), med("vncws", "down_cpu")],
    (u, d) => u <= 1.15 * d,
    (u, d) => `${fmt(u, 2)} vs ${fmt(d, 2)} = ${x(u, d)}`,
  );
  check(
    "up MB/s ≥ 0.9× down MB/s (same run)",
    [med("vncws", "up_mbs"), med("vncws", "down_mbs")],
    (u, d) => u >= 0.9 * d,
    (u, d) => `${fmt(u, 0)} vs ${fmt(d, 0)} = ${x(u, d)}`,
  );
  const n = med("vncws", "fleet_n");
  check(
    `10 000 sessions, ${sizes.fleetSize} B/s each, --heartbeat ${sizes.fleetHeartbeat} ` +
      `--session-idle-timeout ${sizes.fleetIdle}: ≤ 15 % of a core, ≤ 32 KiB RSS each`,
    [n, med("vncws", "fleet_cpu"), med("vncws", "fleet_kib")],
    (_n, cpu, kib) => cpu <= 15 && kib <= 32,
    (count, cpu, kib) =>
      `${fmt(cpu, 1)} % and ${fmt(kib, 1)} KiB at ${fmt(count, 0)} sessions` +
      (count < 10_000 ? ` (fewer: ${sizes.ticks < 10_000 ? "--quick" : "fd limit"})` : ""),
  );
  check(
    "≥ 5 000 sessions/s with a 10 000-entry token file",
    [med("vncws", "burst_tok_rate"), med("websockify", "burst_tok_rate")],
    (a) => a >= 5000,
    (a, w) => `${fmt(a, 0)} sessions/s (websockify ${fmt(w, 0)})`,
  );
  return out;
}

/** Checks the issue's goals against the medians of this run. */
export function checkGoals(r: Results, sizes: Sizes): GoalCheck[] {
  const med = (p: PeerName, id: string) => r.unavailable.has(p) ? undefined : r.median(p, id);
  const out: GoalCheck[] = [];
  const check = checker(out);
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  check(
    "down ≥ 1.3× websockify (MB/s)",
    [med("vncws", "down_mbs"), med("websockify", "down_mbs")],
    (a, b) => a >= 1.3 * b,
    (a, b) => `${fmt(a, 0)} vs ${fmt(b, 0)} MB/s = ${x(a, b)}`,
  );
  check(
    "up ≥ 4× websockify (MB/s)",
    [med("vncws", "up_mbs"), med("websockify", "up_mbs")],
    (a, b) => a >= 4 * b,
    (a, b) => `${fmt(a, 0)} vs ${fmt(b, 0)} MB/s = ${x(a, b)}`,
  );
  check(
    "proxy CPU per GiB ≤ 0.5× websockify, down and up",
    [
      med("vncws", "down_cpu"),
      med("websockify", "down_cpu"),
      med("vncws", "up_cpu"),
      med("websockify", "up_cpu"),
    ],
    (a, b, c, d) => a <= 0.5 * b && c <= 0.5 * d,
    (a, b, c, d) => `down ${x(a, b)}, up ${x(c, d)}`,
  );
  check(
    "proxy CPU per GiB ≤ 2× socat, down and up",
    [
      med("vncws", "down_cpu"),
      med("socat", "down_cpu"),
      med("vncws", "up_cpu"),
      med("socat", "up_cpu"),
    ],
    (a, b, c, d) => a <= 2 * b && c <= 2 * d,
    (a, b, c, d) => `down ${x(a, b)}, up ${x(c, d)}`,
  );
  check(
    "added RTT p50 ≤ socat's added RTT + 50 µs",
    [med("vncws", "rtt_p50"), med("socat", "rtt_p50"), med("direct", "rtt_p50")],
    (v, s, d) => v - d <= s - d + 50,
    (v, s, d) => `vncws +${fmt(v - d, 0)} µs, socat +${fmt(s - d, 0)} µs`,
  );
  const n = med("vncws", "idle_n");
  const partial = n !== undefined && n < 10_000;
  check(
    "10 000 idle sessions in one process at ≤ 32 KiB RSS each",
    [n, med("vncws", "idle_rss")],
    (_count, rss) => rss <= 32,
    (count, rss) =>
      `${fmt(rss, 1)} KiB/session at ${fmt(count, 0)} sessions${
        partial ? ` (fewer than 10 000: ${sizes.idle < 10_000 ? "--quick" : "fd limit"})` : ""
      }`,
  );
  check(
    "≥ 2 000 handshakes/s",
    [med("vncws", "burst_rate")],
    (a) => a >= 2000,
    (a) => `${fmt(a, 0)} sessions/s (connect + handshake + first echo)`,
  );
  check(
    "wss within 1.5× of plain on CPU per GiB",
    [
      med("vncws wss", "down_cpu"),
      med("vncws", "down_cpu"),
      med("vncws wss", "up_cpu"),
      med("vncws", "up_cpu"),
    ],
    (a, b, c, d) => a <= 1.5 * b && c <= 1.5 * d,
    (a, b, c, d) => `down ${x(a, b)}, up ${x(c, d)}`,
    r.unavailable.has("vncws wss") ? `n/a (${r.unavailable.get("vncws wss")})` : "not measured",
  );
  return out;
}

/** Facts about the machine and run, shown above the tables. */
export interface RunInfo {
  date: string;
  machine: string;
  deno: string;
  command: string;
  peers: string;
  notes: string[];
}

/** Markdown for the console and the results file. */
export function renderMarkdown(r: Results, sizes: Sizes, info: RunInfo): string {
  const peers = PEER_NAMES.filter((p) => r.applies.has(p) || r.unavailable.has(p));
  const conc = sizes.conc.map((n) => `conc${n}_mbs`);
  const goals = checkGoals(r, sizes);
  const parts = [
    "# vncws benchmark",
    "",
    `- date: ${info.date}`,
    `- machine: ${info.machine}`,
    `- deno: ${info.deno}`,
    `- peers: ${info.peers}`,
    `- command: \`${info.command}\``,
    `- rounds: ${sizes.rounds} (peers interleaved, order reversed every other round); ` +
    `cells are median (min–max)`,
    "",
    "## Throughput (1 session; CPU = proxy process tree, user + system)",
    "",
    metricTable(r, peers, [
      "down_mbs",
      "down_cpu",
      "up_mbs",
      "up_cpu",
      "rfb_mbs",
      "rfb_ups",
      "rfb_cpu",
    ]),
    "",
    "## Latency and concurrency",
    "",
    metricTable(r, peers, ["rtt_p50", "rtt_p99", "rtt_cpu", ...conc]),
    "",
    "## Scale and startup",
    "",
    metricTable(r, peers, [
      "idle_n",
      "idle_rss",
      "idle_pss",
      "burst_rate",
      "burst_tok_rate",
      "startup_ms",
    ]),
    "",
    ...ticksSection(r, peers, sizes),
    ...policySection(r),
    ...fleetSection(r, peers, sizes),
    "## Ratios (medians; wss rows compare to websockify wss)",
    "",
    ratioTable(r, peers),
    "",
    "## Goals (issue 8)",
    "",
    table(
      ["goal", "measured", "status"],
      goals.map((g) => [g.goal, g.measured, g.status]),
    ),
    "",
    "## Goals (issue 20)",
    "",
    table(
      ["goal", "measured", "status"],
      checkGoals20(r, sizes).map((g) => [g.goal, g.measured, g.status]),
    ),
    "",
  ];
  const errors: string[] = [];
  for (const [peer, byWorkload] of r.errors) {
    for (const [w, msg] of byWorkload) errors.push(`- ${peer} / ${w}: error: ${msg}`);
  }
  if (errors.length > 0) parts.push("## Errors", "", ...errors, "");
  parts.push("## Notes", "", ...info.notes.map((n) => `- ${n}`), "");
  parts.push("## Raw values per round", "", rawTable(r, peers), "");
  return parts.join("\n");
}

/**
 * The busy-sessions table (ticks workload), or nothing when it did not run:
 * each session gets a small update a second, the proxy's steady state is measured.
 */
export function ticksSection(r: Results, peers: PeerName[], sizes: Sizes): string[] {
  const body = metricTable(r, peers, TICKS_COLUMNS);
  if (body === "") return [];
  return [
    `## Busy sessions (${sizes.ticksSize} bytes a second to each, ${sizes.ticksSecs} s; ` +
    `heartbeat: vncws --heartbeat ${sizes.ticksHeartbeat})`,
    "",
    body,
    "",
  ];
}

/**
 * The RFB policy rows (vncws only): the RFB workload after a handshake,
 * plain and with each policy, against the plain relay.
 */
export function policySection(r: Results): string[] {
  if (!r.applies.get("vncws")?.has("policy") || r.unavailable.has("vncws")) return [];
  const rows: Array<[string, string]> = [
    ["plain relay (no policy)", "policy_plain"],
    ["--view-only (viewer's stream framed)", "policy_vo"],
    ["--clipboard none (both streams framed)", "policy_clip"],
  ];
  const against = (prefix: string, what: string) => {
    const x = r.median("vncws", `${prefix}_${what}`);
    const y = r.median("vncws", `policy_plain_${what}`);
    return x === undefined || y === undefined || y === 0 ? "–" : `${(x / y).toFixed(2)}×`;
  };
  return [
    "## RFB policy (vncws; the RFB workload after a real RFB handshake)",
    "",
    table(
      ["session", "RFB MB/s", "CPU s/GiB", "MB/s ÷ plain", "CPU ÷ plain"],
      rows.map(([label, prefix]) => [
        label,
        cell(r, "vncws", METRICS[`${prefix}_mbs`]),
        cell(r, "vncws", METRICS[`${prefix}_cpu`]),
        against(prefix, "mbs"),
        against(prefix, "cpu"),
      ]),
    ),
    "",
  ];
}

/** The mostly-idle-fleet table (fleet workload, issue 20), or nothing when it did not run. */
export function fleetSection(r: Results, peers: PeerName[], sizes: Sizes): string[] {
  const body = metricTable(r, peers, Object.keys(METRICS).filter((id) => id.startsWith("fleet_")));
  if (body === "") return [];
  return [
    `## Mostly idle fleet (${sizes.fleetSize} bytes a second to each; vncws --heartbeat ` +
    `${sizes.fleetHeartbeat} --session-idle-timeout ${sizes.fleetIdle}, websockify ` +
    `--heartbeat ${sizes.fleetHeartbeat})`,
    "",
    body,
    "",
  ];
}

function rawTable(r: Results, peers: PeerName[]): string {
  const rows: string[][] = [];
  for (const metric of Object.values(METRICS)) {
    const row = [metric.label];
    let any = false;
    for (const p of peers) {
      const v = r.values.get(p)?.get(metric.id);
      any ||= v !== undefined;
      row.push(v ? v.map((x) => fmt(x, metric.digits)).join(", ") : "–");
    }
    if (any) rows.push(row);
  }
  return table(["metric", ...peers], rows);
}

/** Heading of the hand-written part of the results file, kept when the bench rewrites it. */
export const ANALYSIS_HEADING =
  "## Analysis (hand-written; kept when the bench rewrites this file)";

/** `generated`, followed by the hand-written analysis section of `previous` if it has one. */
export function keepAnalysis(generated: string, previous: string | undefined): string {
  const at = previous?.indexOf(ANALYSIS_HEADING) ?? -1;
  if (at < 0) return generated;
  return `${generated.trimEnd()}\n\n${previous!.slice(at)}`;
}
