/**
 * `deno task fuzz`: the long runs behind docs/reliability.md.
 *
 *   deno task fuzz                     1 000 000 fuzz cases across every target
 *   deno task fuzz --cases 50000       fewer cases
 *   deno task fuzz --seed 42           a fixed seed (replay)
 *   deno task fuzz --only head         targets whose name contains "head"
 *   deno task fuzz --soak              the big soak instead: 1000 sessions for 3 minutes
 *   deno task fuzz --soak --sessions 200 --seconds 60
 *
 * Prints cases and time per target (and the soak's figures); exits 1 on the
 * first failing property, with fast-check's counterexample and seed.
 * @module
 */
import { parseArgs } from "node:util";
import fc from "fast-check";
import { FUZZ_TARGETS } from "./testing/fuzz_registry.ts";
import { configureLog } from "../src/base/log.ts";
import { runSoak } from "./testing/soak.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    cases: { type: "string", default: "1000000" },
    seed: { type: "string" },
    only: { type: "string" },
    soak: { type: "boolean", default: false },
    sessions: { type: "string", default: "1000" },
    seconds: { type: "string", default: "180" },
    help: { type: "boolean", short: "h" },
  },
});

function fmt(n: number): string {
  return n.toLocaleString("en-US").replaceAll(",", " ");
}

function fuzz(): number {
  const total = Number(values.cases);
  if (!Number.isInteger(total) || total <= 0) {
    console.error(`--cases takes a whole number above 0, got "${values.cases}"`);
    return 2;
  }
  // Token file syntax errors are logged by the parser: millions of lines otherwise.
  configureLog({ sink: () => {} });
  const targets = FUZZ_TARGETS.filter((t) => !values.only || t.name.includes(values.only));
  const weight = targets.reduce((a, t) => a + t.weight, 0);
  let all = 0;
  const started = performance.now();
  console.log(`fuzzing ${fmt(total)} cases across ${targets.length} targets`);
  for (const t of targets) {
    const numRuns = Math.max(1, Math.round(total * t.weight / weight));
    const seed = values.seed !== undefined
      ? Number(values.seed)
      : Date.now() ^ (Math.random() * 2 ** 31);
    const t0 = performance.now();
    const details = fc.check(t.property, { numRuns, seed });
    const secs = (performance.now() - t0) / 1000;
    if (details.failed) {
      console.error(`FAILED ${t.name}\n${fc.defaultReportMessage(details)}`);
      return 1;
    }
    all += details.numRuns;
    console.log(
      `${t.name.padEnd(34)} ${fmt(details.numRuns).padStart(11)} cases ${
        secs.toFixed(1).padStart(7)
      } s  seed ${seed}`,
    );
  }
  const secs = (performance.now() - started) / 1000;
  console.log(
    `${"total".padEnd(34)} ${fmt(all).padStart(11)} cases ${secs.toFixed(1).padStart(7)} s`,
  );
  return 0;
}

async function soak(): Promise<number> {
  const sessions = Number(values.sessions);
  const seconds = Number(values.seconds);
  console.log(`soak: ${sessions} concurrent sessions for ${seconds} s`);
  const r = await runSoak({ sessions, seconds, log: (s) => console.log(s) });
  console.log(JSON.stringify(r, null, 2));
  return r.lost === 0 && r.corrupted === 0 && r.failedSessions === 0 ? 0 : 1;
}

if (values.help) {
  console.log(
    "deno task fuzz [--cases N] [--seed S] [--only NAME] | --soak [--sessions N] [--seconds S]",
  );
  Deno.exit(0);
}
Deno.exit(values.soak ? await soak() : fuzz());
