/**
 * The sum of several processes' Prometheus expositions (the `--workers`
 * parent's `/metrics`): one family each, every series once, with the value
 * summed over the processes (counters, histogram buckets, sums and counts,
 * `vncws_sessions_active`), except families that hold the same value in
 * every process (a certificate's expiry, host-wide bans), which take the
 * largest. Series that only some processes have (a status only one of
 * them answered) are kept.
 * @module
 */
import { formatValue } from "./metrics.ts";

/** Families whose value is the same in every worker: summing would count it N times. */
export const SAME_IN_EVERY_WORKER: ReadonlySet<string> = new Set([
  "vncws_tls_cert_not_after_seconds",
  "vncws_bans_active",
]);

interface FamilyText {
  comments: string[];
  series: Map<string, number>;
}

/** A sample value as Prometheus writes it (`+Inf` is not a JavaScript number). */
function parseValue(text: string): number {
  return text === "+Inf" ? Infinity : text === "-Inf" ? -Infinity : Number(text);
}

/** Sums `expositions` (Prometheus text format 0.0.4, no timestamps) into one. */
export function sumExpositions(
  expositions: readonly string[],
  same: ReadonlySet<string> = SAME_IN_EVERY_WORKER,
): string {
  const families = new Map<string, FamilyText>();
  for (const text of expositions) {
    let family: FamilyText | undefined;
    let name = "";
    for (const line of text.split("\n")) {
      if (line === "") continue;
      const comment = /^# (HELP|TYPE) (\S+)/.exec(line);
      if (comment) {
        name = comment[2];
        family = families.get(name);
        if (!family) {
          family = { comments: [], series: new Map() };
          families.set(name, family);
        }
        // Each process writes the same HELP and TYPE: keep the first copy.
        if (family.comments.length < 2 && !family.comments.includes(line)) {
          family.comments.push(line);
        }
        continue;
      }
      if (line.startsWith("#")) continue;
      // The value is the last field; label values may hold spaces, values never do.
      const cut = line.lastIndexOf(" ");
      const key = line.slice(0, cut);
      const value = parseValue(line.slice(cut + 1));
      const into = family ?? families.get(key) ?? { comments: [], series: new Map() };
      if (!family) families.set(key, into);
      const had = into.series.get(key);
      into.series.set(
        key,
        had === undefined ? value : same.has(name) ? Math.max(had, value) : had + value,
      );
    }
  }
  const out: string[] = [];
  for (const f of families.values()) {
    out.push(...f.comments);
    for (const [key, value] of f.series) out.push(`${key} ${formatValue(value)}`);
  }
  return out.join("\n") + "\n";
}
