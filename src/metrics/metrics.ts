/**
 * A small metrics registry (counters, gauges, fixed-bucket histograms) and
 * the Prometheus text exposition format (version 0.0.4). Updating a metric
 * is a number increment on an object created once: label values are looked
 * up when a child is created, never per update, so hot paths keep a child
 * (e.g. {@linkcode VncwsMetrics.bytesToTarget}) and call `inc(n)`.
 * @module
 */
import { DROP_KINDS } from "../rfb/policy_framer.ts";

/** Content-Type of {@linkcode Registry.expose}'s output. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Escapes a label value: backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Escapes HELP text: backslash and newline (quotes stay). */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A sample value as Prometheus writes it (`+Inf`, `-Inf`, `NaN`). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function labelText(names: readonly string[], values: readonly string[], extra = ""): string {
  const parts = names.map((n, i) => `${n}="${escapeLabelValue(values[i])}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** A value that only goes up. */
export class Counter {
  /** Current value; read it, but change it only through {@linkcode inc}. */
  value = 0;
  /** Adds `n` (default 1); negative amounts are ignored, counters never go down. */
  inc(n = 1): void {
    if (n > 0) this.value += n;
  }
}

/** A value that goes up and down. */
export class Gauge {
  /** Current value. */
  value = 0;
  /** Sets the value. */
  set(v: number): void {
    this.value = v;
  }
  /** Adds `n` (default 1). */
  inc(n = 1): void {
    this.value += n;
  }
  /** Subtracts `n` (default 1). */
  dec(n = 1): void {
    this.value -= n;
  }
}

/** Observations counted into fixed buckets (upper bounds, `le`). */
export class Histogram {
  /** Upper bounds, ascending, without +Inf. */
  readonly bounds: readonly number[];
  /** Per-bucket counts (not cumulative); the last one is +Inf. */
  readonly counts: number[];
  /** Sum of all observations. */
  sum = 0;
  /** Number of observations. */
  count = 0;

  /** A histogram with these bucket upper bounds. */
  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Array(bounds.length + 1).fill(0);
  }

  /** Records one observation. */
  observe(v: number): void {
    let i = 0;
    while (i < this.bounds.length && v > this.bounds[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
  }
}

/** The Prometheus type of a metric family. */
export type Kind = "counter" | "gauge" | "histogram";
/** Any one metric. */
export type Metric = Counter | Gauge | Histogram;

/**
 * One named metric with its label names; children per label values.
 * A family without labels has one child, returned by `labels()`.
 */
export class Family<M extends Metric> {
  /** Metric name (`vncws_...`). */
  readonly name: string;
  /** The # HELP text. */
  readonly help: string;
  /** Counter, gauge or histogram. */
  readonly kind: Kind;
  /** Label names, in the order `labels()` takes values. */
  readonly labelNames: readonly string[];
  readonly #make: () => M;
  readonly #children = new Map<string, { values: string[]; metric: M }>();

  /** A family named `name`; `make` creates the child for each label value set. */
  constructor(
    name: string,
    help: string,
    kind: Kind,
    labelNames: readonly string[],
    make: () => M,
  ) {
    this.name = name;
    this.help = help;
    this.kind = kind;
    this.labelNames = labelNames;
    this.#make = make;
  }

  /**
   * The child for these label values (created on first use). Keep it when
   * updating on a hot path instead of calling this each time.
   */
  labels(...values: string[]): M {
    if (values.length !== this.labelNames.length) {
      throw new Error(
        `metric ${this.name} takes ${this.labelNames.length} label value(s) ` +
          `(${this.labelNames.join(", ")}), got ${values.length}`,
      );
    }
    const key = values.join("\u0000");
    let c = this.#children.get(key);
    if (!c) {
      c = { values: [...values], metric: this.#make() };
      this.#children.set(key, c);
    }
    return c.metric;
  }

  /** Drops every child (for a family whose label values are read anew at each scrape). */
  clear(): void {
    this.#children.clear();
  }

  /** Appends this family's exposition lines to `out`. */
  expose(out: string[]): void {
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`);
    out.push(`# TYPE ${this.name} ${this.kind}`);
    for (const { values, metric } of this.#children.values()) {
      if (metric instanceof Histogram) {
        let cumulative = 0;
        for (let i = 0; i <= metric.bounds.length; i++) {
          cumulative += metric.counts[i];
          const le = i < metric.bounds.length ? formatValue(metric.bounds[i]) : "+Inf";
          out.push(
            `${this.name}_bucket${labelText(this.labelNames, values, `le="${le}"`)} ${cumulative}`,
          );
        }
        const l = labelText(this.labelNames, values);
        out.push(`${this.name}_sum${l} ${formatValue(metric.sum)}`);
        out.push(`${this.name}_count${l} ${metric.count}`);
      } else {
        out.push(`${this.name}${labelText(this.labelNames, values)} ${formatValue(metric.value)}`);
      }
    }
  }
}

/** Metric families by name, exposed together. */
export class Registry {
  readonly #families = new Map<string, Family<Metric>>();
  readonly #collectors: Array<() => void> = [];

  #add<M extends Metric>(
    name: string,
    help: string,
    kind: Kind,
    labelNames: readonly string[],
    make: () => M,
  ): Family<M> {
    if (!NAME_RE.test(name)) throw new Error(`invalid metric name ${JSON.stringify(name)}`);
    for (const l of labelNames) {
      if (!LABEL_RE.test(l) || l.startsWith("__") || (kind === "histogram" && l === "le")) {
        throw new Error(`invalid label name ${JSON.stringify(l)} for metric ${name}`);
      }
    }
    if (this.#families.has(name)) throw new Error(`metric ${name} is already registered`);
    const f = new Family<M>(name, help, kind, labelNames, make);
    this.#families.set(name, f as unknown as Family<Metric>);
    return f;
  }

  /** A counter family; with no label names, `family.labels()` is the counter. */
  counter(name: string, help: string, labelNames: readonly string[] = []): Family<Counter> {
    return this.#add(name, help, "counter", labelNames, () => new Counter());
  }

  /** A gauge family. */
  gauge(name: string, help: string, labelNames: readonly string[] = []): Family<Gauge> {
    return this.#add(name, help, "gauge", labelNames, () => new Gauge());
  }

  /** A histogram family with fixed, ascending bucket upper bounds. */
  histogram(
    name: string,
    help: string,
    buckets: readonly number[],
    labelNames: readonly string[] = [],
  ): Family<Histogram> {
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i] > buckets[i - 1])) {
        throw new Error(`histogram ${name}: buckets must be strictly ascending`);
      }
    }
    const bounds = buckets.filter((b) => b !== Infinity);
    return this.#add(name, help, "histogram", labelNames, () => new Histogram(bounds));
  }

  /** Runs `fn` before each exposition (to set gauges read from elsewhere). */
  onCollect(fn: () => void): void {
    this.#collectors.push(fn);
  }

  /** The Prometheus text exposition of every family, ending with a newline. */
  expose(): string {
    for (const c of this.#collectors) c();
    const out: string[] = [];
    for (const f of this.#families.values()) f.expose(out);
    return out.join("\n") + "\n";
  }
}

/** How a relayed session ended, for `vncws_sessions_total{outcome}`. */
export type SessionOutcome =
  | "client_closed"
  | "target_closed"
  | "timeout"
  | "shutdown"
  | "ended"
  | "error";

/** Token lookup results, for `vncws_token_lookups_total{result}`. */
export type TokenLookupResult = "found" | "not_found" | "error";

/** Target connect latency buckets in seconds (loopback to slow WAN). */
export const CONNECT_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** vncws's named metrics, created in one registry. */
export interface VncwsMetrics {
  /** The registry all of these are in. */
  registry: Registry;
  /** `vncws_sessions_active`: sessions relaying now. */
  sessionsActive: Gauge;
  /** `vncws_sessions_total{outcome}`: ended sessions by outcome. */
  sessionsTotal: Family<Counter>;
  /** `vncws_bytes_total{direction="to_target"}`. */
  bytesToTarget: Counter;
  /** `vncws_bytes_total{direction="to_client"}`. */
  bytesToClient: Counter;
  /**
   * `vncws_handshake_failures_total{status}`: connections refused before
   * relaying, by the HTTP status answered (`closed`: closed without an
   * answer, a TLS or raw client).
   */
  handshakeFailures: Family<Counter>;
  /** `vncws_target_connect_seconds`: time to connect the target. */
  targetConnectSeconds: Histogram;
  /** `vncws_wrap_restarts_total`: wrapped server respawns. */
  wrapRestarts: Counter;
  /** `vncws_token_lookups_total{result}`. */
  tokenLookups: Family<Counter>;
  /** `vncws_auth_failures_total{kind}`: failed attempts counted toward bans, by refusal kind. */
  authFailures: Family<Counter>;
  /** `vncws_bans_active`: client addresses banned now. */
  bansActive: Gauge;
  /** `vncws_tls_cert_not_after_seconds{name,file}`: when each served certificate expires. */
  tlsCertNotAfter: Family<Gauge>;
  /** `vncws_rfb_dropped_total{kind}`: RFB messages the view-only/clipboard policy dropped. */
  rfbDropped: Family<Counter>;
}

/** Creates vncws's metrics in `registry` (a new one when omitted). */
export function createVncwsMetrics(registry: Registry = new Registry()): VncwsMetrics {
  const bytes = registry.counter(
    "vncws_bytes_total",
    "Bytes relayed, by direction (payload bytes, without WebSocket framing).",
    ["direction"],
  );
  const m: VncwsMetrics = {
    registry,
    sessionsActive: registry.gauge("vncws_sessions_active", "Sessions relaying now.").labels(),
    sessionsTotal: registry.counter(
      "vncws_sessions_total",
      "Ended sessions, by outcome.",
      ["outcome"],
    ),
    bytesToTarget: bytes.labels("to_target"),
    bytesToClient: bytes.labels("to_client"),
    handshakeFailures: registry.counter(
      "vncws_handshake_failures_total",
      "Connections refused before relaying, by HTTP status answered (closed: none, a TLS or raw client).",
      ["status"],
    ),
    targetConnectSeconds: registry.histogram(
      "vncws_target_connect_seconds",
      "Time to connect to the target, in seconds.",
      CONNECT_BUCKETS,
    ).labels(),
    wrapRestarts: registry.counter(
      "vncws_wrap_restarts_total",
      "Times the wrapped server was started again (--wrap-mode respawn).",
    ).labels(),
    tokenLookups: registry.counter(
      "vncws_token_lookups_total",
      "Token lookups, by result.",
      ["result"],
    ),
    authFailures: registry.counter(
      "vncws_auth_failures_total",
      "Failed attempts counted toward bans (--ban-after), by refusal kind.",
      ["kind"],
    ),
    bansActive: registry.gauge("vncws_bans_active", "Client addresses banned now.").labels(),
    tlsCertNotAfter: registry.gauge(
      "vncws_tls_cert_not_after_seconds",
      "When each served certificate expires (notAfter, unix seconds), by its first DNS name and file.",
      ["name", "file"],
    ),
    rfbDropped: registry.counter(
      "vncws_rfb_dropped_total",
      `RFB messages dropped by the view-only or clipboard policy, by kind (${
        DROP_KINDS.join(", ")
      }).`,
      ["kind"],
    ),
  };
  // Known label values exist from the start, so rate() sees them from 0.
  for (const o of ["client_closed", "target_closed", "timeout", "shutdown", "error"]) {
    m.sessionsTotal.labels(o);
  }
  for (const r of ["found", "not_found", "error"]) m.tokenLookups.labels(r);
  for (const k of DROP_KINDS) m.rfbDropped.labels(k);
  return m;
}
