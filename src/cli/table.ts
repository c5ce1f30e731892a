/**
 * The option-table machinery: a command declares its options once (name,
 * short flag, value type, group, help, default, config-file key, origin) and
 * gets from that one table its argv parser ({@linkcode parseOptions}), its
 * `--help` ({@linkcode renderHelp}) and its README table
 * ({@linkcode renderMarkdown}); `--config` keys come from it too
 * ({@linkcode configKeys}).
 *
 * A new subcommand declares a {@linkcode CommandSpec} (usage lines, groups,
 * options built with {@linkcode flag} and {@linkcode valued}) and maps
 * {@linkcode ParsedOptions} onto its own typed options.
 * @module
 */
import { parseArgs } from "node:util";
import { nearest } from "../base/text.ts";
import { UsageError, type ValueType } from "./values.ts";

/** Where an option comes from: websockify's or websocat's spelling, or vncws's own. */
export type Origin = "websockify" | "websocat" | "vncws";

/** One option of a command. */
export interface OptionSpec {
  /** The long name, without `--`. */
  name: string;
  /** One-letter alias, without `-`. */
  short?: string;
  /** How the value parses; absent for a flag. */
  value?: ValueType<unknown>;
  /** The placeholder in help, when not the value type's own (e.g. "DIR|none"). */
  placeholder?: string;
  /** May be given more than once: a flag counts (`-vv`), a value collects a list. */
  repeatable?: boolean;
  /** The id of the group it is listed under. */
  group: string;
  /** One or two sentences; the default is appended as `[x]`. */
  help: string;
  /** The value used when the option is absent (read from src/config/ defaults). */
  default?: unknown;
  /** How the default reads when the value type cannot show it ("the bundled viewer"). */
  defaultText?: string;
  /** The `--config` file key: the name when absent, null when the option cannot be in a file. */
  configKey?: string | null;
  /** websockify's or websocat's option, or vncws's own. */
  origin: Origin;
  /** Another option this one needs ("--ssl-only needs --cert"); with a list, any one of them. */
  needs?: string | readonly string[];
}

/** A heading under which options are listed. */
export interface GroupSpec {
  /** What options name in {@linkcode OptionSpec.group}. */
  id: string;
  /** "Proxy", "TLS"… */
  title: string;
  /** Lines printed under the title in `--help` (an example, a rule). */
  intro?: string[];
  /** The README heading, when not the title. */
  readme?: string;
}

/** A command's whole table: usage, groups and options. */
export interface CommandSpec {
  /** "vncws", "vncws bridge"… (prefix of usage lines and error messages). */
  name: string;
  /** The help's first line. */
  summary?: string;
  /** Usage lines, each without the command name. */
  usage: string[];
  /** Paragraphs between the usage lines and the options (wrapped; one with "\n" is kept as is). */
  intro?: string[];
  /** The positional arguments: `[spelling, meaning]`. */
  arguments?: Array<[string, string]>;
  /** The headings, in order. */
  groups: GroupSpec[];
  /** Every option, in the order help lists them within a group. */
  options: OptionSpec[];
  /** Lines after the options (exit codes…). */
  footer?: string[];
  /** For an unknown option (as written: `--text`, `-t`): a message that explains it, if any. */
  explainUnknown?: (flag: string) => string | undefined;
}

/** The optional fields of an option, for {@linkcode flag} and {@linkcode valued}. */
export type Common = Omit<OptionSpec, "name" | "value" | "default" | "help" | "group" | "origin">;

/** A flag (no value). */
export function flag(
  name: string,
  group: string,
  origin: Origin,
  help: string,
  more: Common = {},
): OptionSpec {
  return { name, group, origin, help, ...more };
}

/** An option with a value of type `T`; `default` is type-checked against it. */
export function valued<T>(
  name: string,
  value: ValueType<T>,
  group: string,
  origin: Origin,
  help: string,
  more: Common & { default?: T } = {},
): OptionSpec {
  return { name, value: value as ValueType<unknown>, group, origin, help, ...more };
}

/** The default as help and the README print it, or undefined when none is shown. */
export function defaultText(o: OptionSpec): string | undefined {
  if (o.defaultText !== undefined) return o.defaultText;
  if (o.default === undefined || !o.value) return undefined;
  return o.value.show(o.default);
}

/** The option as it is typed: `-v, --verbose`, `--timeout SEC`. */
export function optionUsage(o: OptionSpec, sep = ", "): string {
  const names = o.short ? `-${o.short}${sep}--${o.name}` : `--${o.name}`;
  const ph = o.placeholder ?? o.value?.placeholder;
  return ph ? `${names} ${ph}` : names;
}

/** The options of one parse: typed values with defaults applied. */
export interface ParsedOptions {
  /** Arguments that are not options, in order. */
  positionals: string[];
  /** Whether the option was given (a flag given as true; a value given at all). */
  given(name: string): boolean;
  /** How often a repeatable flag was given. */
  count(name: string): number;
  /** The parsed value, or the option's default when absent. */
  get<T>(name: string): T | undefined;
  /** A repeatable value option: every value, each parsed. */
  all<T>(name: string): T[];
}

/** Turns node:util's parse error into a {@linkcode UsageError} that says what to do. */
function usageFrom(e: unknown, spec: CommandSpec): UsageError {
  const msg = e instanceof Error ? e.message : String(e);
  const unknown = /Unknown option '(-{1,2})([^']+)'/.exec(msg);
  if (unknown) {
    const explained = spec.explainUnknown?.(unknown[1] + unknown[2]);
    if (explained) return new UsageError(explained);
    // A one-letter flag is too short to guess from.
    const near = unknown[2].length > 1
      ? nearest(unknown[2], spec.options.map((o) => o.name))
      : undefined;
    return new UsageError(
      `unknown option ${unknown[1]}${unknown[2]}` + (near ? ` (did you mean --${near}?)` : ""),
    );
  }
  const missing = /Option '(?:-\w, )?--([\w-]+) <value>' argument missing/.exec(msg);
  if (missing) return new UsageError(`--${missing[1]} needs a value`);
  const ambiguous = /Option '(?:-\w, )?--([\w-]+)' argument is ambiguous/.exec(msg);
  if (ambiguous) {
    const n = ambiguous[1];
    return new UsageError(`--${n}'s value starts with "-": write it as --${n}=VALUE`);
  }
  // node's other messages name the option, never its value (it may be a password).
  return new UsageError(msg.replace(/\.?\s*To specify (a positional|an option).*$/s, ""));
}

/**
 * Parses `argv` against the table: options anywhere among the positionals,
 * values parsed by their types when read. Throws {@linkcode UsageError}.
 * The `needs` rules are checked by {@linkcode checkNeeds}, after `--help`.
 */
export function parseOptions(spec: CommandSpec, argv: string[]): ParsedOptions {
  const nodeOptions: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean }
  > = {};
  for (const o of spec.options) {
    nodeOptions[o.name] = { type: o.value ? "string" : "boolean", multiple: !!o.repeatable };
    if (o.short) nodeOptions[o.name].short = o.short;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: nodeOptions, strict: true, allowPositionals: true });
  } catch (e) {
    throw usageFrom(e, spec);
  }
  const raw = parsed.values as Record<string, string | boolean | (string | boolean)[] | undefined>;
  const byName = new Map(spec.options.map((o) => [o.name, o]));
  const known = (name: string) => {
    const o = byName.get(name);
    if (!o) throw new Error(`${spec.name} has no option --${name}`);
    return o;
  };
  const given = (name: string) => {
    known(name);
    const v = raw[name];
    return v !== undefined && v !== false && !(Array.isArray(v) && v.length === 0);
  };
  const parseOne = (o: OptionSpec, text: string) => o.value!.parse(text, `--${o.name}`);
  return {
    positionals: parsed.positionals,
    given,
    count: (name) => {
      const v = raw[name];
      return Array.isArray(v) ? v.length : v === true ? 1 : 0;
    },
    get<T>(name: string): T | undefined {
      const o = known(name);
      const v = raw[name];
      if (v === undefined) return o.default as T | undefined;
      const last = Array.isArray(v) ? v.at(-1) : v;
      return (o.value ? parseOne(o, last as string) : last) as T;
    },
    all<T>(name: string): T[] {
      const o = known(name);
      const v = raw[name];
      const list = (Array.isArray(v) ? v : v === undefined ? [] : [v]) as string[];
      return list.map((t) => parseOne(o, t) as T);
    },
  };
}

/** Throws {@linkcode UsageError} for an option given without the option it `needs`. */
export function checkNeeds(spec: CommandSpec, o: ParsedOptions): void {
  for (const opt of spec.options) {
    if (opt.needs === undefined || !o.given(opt.name)) continue;
    const needs = typeof opt.needs === "string" ? [opt.needs] : opt.needs;
    if (!needs.some((n) => o.given(n))) {
      throw new UsageError(`--${opt.name} needs ${needs.map((n) => `--${n}`).join(" or ")}`);
    }
  }
}

/** Word-wraps `text` to lines of at most `width` characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter((w) => w)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** Help's left column: 2 spaces, the option, padded to this width. */
const LEFT = 29;
/** Help's line width. */
const WIDTH = 80;

/** The help text of one option with its default: "send a ping… [30]". */
export function helpText(o: OptionSpec): string {
  const d = defaultText(o);
  return d === undefined ? o.help : `${o.help} [${d}]`;
}

/** One entry of help: `left` then the wrapped text in the second column. */
function helpLines(left: string, text: string): string[] {
  const body = wrap(text, WIDTH - LEFT).map((l) => " ".repeat(LEFT) + l);
  if (left.length >= LEFT) return [left, ...body];
  return [left.padEnd(LEFT) + body[0].trimStart(), ...body.slice(1)];
}

/** `--help`: usage lines, then each group's options with their defaults. */
export function renderHelp(spec: CommandSpec): string {
  const out: string[] = [];
  if (spec.summary) out.push(spec.summary, "");
  out.push("Usage:", ...spec.usage.map((u) => `  ${spec.name} ${u}`));
  for (const p of spec.intro ?? []) {
    const lines = p.includes("\n") ? p.split("\n") : wrap(p, WIDTH - 2);
    out.push("", ...lines.map((l) => `  ${l}`));
  }
  if (spec.arguments) {
    out.push("", "Arguments:");
    for (const [arg, meaning] of spec.arguments) out.push(...helpLines(`  ${arg}`, meaning));
  }
  for (const g of spec.groups) {
    const options = spec.options.filter((o) => o.group === g.id);
    if (options.length === 0) continue;
    out.push("", g.title);
    for (const line of g.intro ?? []) out.push(`  ${line}`);
    for (const o of options) out.push(...helpLines(`  ${optionUsage(o)}`, helpText(o)));
  }
  if (spec.footer) out.push("", ...spec.footer);
  return out.join("\n") + "\n";
}

/** Display width as deno fmt counts it (one column per code point here). */
function width(s: string): number {
  return [...s].length;
}

/** A Markdown table padded the way `deno fmt` pads it, so the README stays formatted. */
export function markdownTable(head: string[], rows: string[][]): string {
  const cells = [head, ...rows].map((r) => r.map((c) => c.replace(/\|/g, "\\|")));
  const widths = head.map((_, i) => Math.max(3, ...cells.map((r) => width(r[i]))));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => c + " ".repeat(widths[i] - width(c))).join(" | ")} |`;
  return [
    line(cells[0]),
    `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`,
    ...cells.slice(1).map(line),
  ].join("\n");
}

/**
 * The README's option tables of a command: one per group under `heading`
 * ("###"), or one table for all when `heading` is undefined; the
 * positional arguments first.
 */
export function renderMarkdown(spec: CommandSpec, heading?: string): string {
  const row = (o: OptionSpec) => [
    `\`${optionUsage(o, "\`, \`")}\``,
    defaultText(o) ?? "",
    o.origin === "vncws" ? "" : o.origin,
    o.help,
  ];
  const head = ["option", "default", "from", "meaning"];
  const parts: string[] = [];
  if (spec.arguments) {
    const args = spec.arguments.map(([a, m]) => [`\`${a}\``, m]);
    parts.push(markdownTable(["argument", "meaning"], args));
  }
  if (heading === undefined) {
    const order = spec.groups.flatMap((g) => spec.options.filter((o) => o.group === g.id));
    parts.push(markdownTable(head, order.map(row)));
  } else {
    for (const g of spec.groups) {
      const options = spec.options.filter((o) => o.group === g.id);
      if (options.length === 0) continue;
      parts.push(`${heading} ${g.readme ?? g.title}`, markdownTable(head, options.map(row)));
    }
  }
  return parts.join("\n\n");
}
