/**
 * Summarises a V8 `.cpuprofile` (from `deno run --cpu-prof`): self time per
 * function, heaviest first, so a missed goal can be traced to its cost.
 *
 * usage: deno run -A scripts/bench/profile_summary.ts FILE.cpuprofile [TOP]
 * @module
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** The parts of a V8 CPU profile this summary reads. */
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time of one function, in milliseconds and as a share of all samples. */
export interface SelfTime {
  name: string;
  ms: number;
  share: number;
}

function label(f: CallFrame): string {
  const name = f.functionName || "(anonymous)";
  if (!f.url) return name;
  const file = f.url.replace(/^file:\/\//, "").replace(/^.*\/(src|ext|node_modules)\//, "$1/");
  return `${name} ${file}:${f.lineNumber + 1}`;
}

/** Self time per function (summed over call sites), heaviest first. */
export function selfTimes(profile: CpuProfile): SelfTime[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const ms = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    if (!node) continue;
    // timeDeltas[i] is the gap before sample i; charge it to the sampled node
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    const key = label(node.callFrame);
    ms.set(key, (ms.get(key) ?? 0) + dt);
    total += dt;
  }
  return [...ms.entries()]
    .map(([name, t]) => ({ name, ms: t, share: total > 0 ? t / total : 0 }))
    .sort((a, b) => b.ms - a.ms);
}

if (import.meta.main) {
  const [file, top = "25"] = Deno.args;
  if (!file) {
    console.error("usage: deno run -A scripts/bench/profile_summary.ts FILE.cpuprofile [TOP]");
    Deno.exit(2);
  }
  const profile = JSON.parse(await Deno.readTextFile(file)) as CpuProfile;
  const rows = selfTimes(profile);
  const total = rows.reduce((s, r) => s + r.ms, 0);
  console.log(`total sampled ${total.toFixed(0)} ms`);
  console.log("| self ms | share | function |\n|---:|---:|---|");
  for (const r of rows.slice(0, Number(top))) {
    console.log(`| ${r.ms.toFixed(0)} | ${(r.share * 100).toFixed(1)}% | ${r.name} |`);
  }
}
