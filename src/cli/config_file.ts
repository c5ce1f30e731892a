/**
 * `--config FILE`: command-line options from a TOML or JSON file. Every long
 * option is a key; the file becomes argv entries that go in front of the
 * real command line, so the command line wins (for options given once, the
 * last occurrence counts).
 *
 * ```toml
 * # /etc/vncws.toml
 * token-plugin = "TokenFile"        # --token-plugin=TokenFile
 * token-source = "/etc/vncws/tokens"
 * verbose = 2                       # -v -v (a count for repeatable flags)
 * ssl-only = true                   # --ssl-only; false leaves it out
 * allow-origin = ["https://a.example", "https://b.example"]  # repeated
 * heartbeat = 30                    # numbers become their text
 * ```
 * The same as JSON: `{ "token-plugin": "TokenFile", "verbose": 2 }`.
 * Keys may use `_` for `-`. The format is TOML unless the file name ends in
 * `.json`. Tables (`[section]`) are not used. The keys come from the option
 * table ({@linkcode configFileOptions}).
 * @module
 */
import { parse as parseToml } from "smol-toml";
import { editDistance } from "../base/text.ts";
import type { CommandSpec } from "./table.ts";

/** A mistake in the config file; the message names the file and the key. */
export class ConfigFileError extends Error {}

/** Options for {@linkcode configFileArgs}. */
export interface ConfigFileOptions {
  /** Every long option the CLI accepts, with its kind. */
  knownOptions: Record<string, "string" | "boolean">;
  /** Options that may repeat: arrays for string options, counts for flags (`verbose = 2`). */
  multiple?: Iterable<string>;
  /** Keys that make no sense in a file (default: config, help, version). */
  notInFile?: Iterable<string>;
  /** File keys spelled unlike their option: file key → long option name. */
  optionNames?: Record<string, string>;
}

/** The file keys of a command's option table: every option whose `configKey` is not null. */
export function configFileOptions(spec: CommandSpec): ConfigFileOptions {
  const knownOptions: Record<string, "string" | "boolean"> = {};
  const optionNames: Record<string, string> = {};
  for (const o of spec.options) {
    const key = o.configKey ?? o.name;
    knownOptions[key] = o.value ? "string" : "boolean";
    if (key !== o.name) optionNames[key] = o.name;
  }
  return {
    knownOptions,
    multiple: spec.options.filter((o) => o.repeatable).map((o) => o.configKey ?? o.name),
    notInFile: spec.options.filter((o) => o.configKey === null).map((o) => o.name),
    optionNames,
  };
}

const NOT_IN_FILE = ["config", "help", "version"];

function describe(v: unknown): string {
  if (Array.isArray(v)) return "a list";
  if (v === null) return "null";
  if (v instanceof Date) return "a date";
  return typeof v === "object" ? "a table" : `${typeof v} ${JSON.stringify(v)}`;
}

/** Parses the file text (TOML, or JSON when `path` ends in `.json`). */
export function parseConfigText(text: string, path: string): Record<string, unknown> {
  let data: unknown;
  try {
    data = path.toLowerCase().endsWith(".json") ? JSON.parse(text) : parseToml(text);
  } catch (e) {
    const kind = path.toLowerCase().endsWith(".json") ? "JSON" : "TOML";
    throw new ConfigFileError(`${path}: not valid ${kind}: ${(e as Error).message}`);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new ConfigFileError(`${path}: expected key = value pairs at the top level`);
  }
  return data as Record<string, unknown>;
}

/**
 * Turns parsed config data into argv entries (`--key=value`, `--flag`).
 * Throws {@linkcode ConfigFileError} for unknown keys and wrong value types.
 */
export function configArgs(
  data: Record<string, unknown>,
  path: string,
  options: ConfigFileOptions,
): string[] {
  const known = options.knownOptions;
  const multiple = new Set(options.multiple ?? []);
  const notInFile = new Set(options.notInFile ?? NOT_IN_FILE);
  const args: string[] = [];
  for (const [rawKey, value] of Object.entries(data)) {
    if (
      typeof value === "object" && value !== null && !Array.isArray(value) &&
      !(value instanceof Date)
    ) {
      throw new ConfigFileError(
        `${path}: [${rawKey}] is a table: vncws uses no sections; put key = value lines at the top`,
      );
    }
    const key = rawKey.replace(/_/g, "-");
    const option = options.optionNames?.[key] ?? key;
    const kind = Object.hasOwn(known, key) && !notInFile.has(key) ? known[key] : undefined;
    if (kind === undefined) {
      if (notInFile.has(key)) {
        throw new ConfigFileError(`${path}: "${rawKey}" cannot be set in a config file`);
      }
      const valid = Object.keys(known).filter((k) => !notInFile.has(k)).sort();
      const near = valid.map((k) => [k, editDistance(key, k)] as const)
        .filter(([, d]) => d <= 3).sort((a, b) => a[1] - b[1])[0]?.[0];
      throw new ConfigFileError(
        `${path}: unknown key "${rawKey}"` + (near ? ` (did you mean "${near}"?)` : "") +
          `. Valid keys are the long options: ${valid.join(", ")}`,
      );
    }
    const bad = (what: string) =>
      new ConfigFileError(`${path}: "${rawKey}" ${what}, not ${describe(value)}`);
    if (kind === "boolean") {
      if (value === true) args.push(`--${option}`);
      else if (value === false) continue;
      else if (multiple.has(key) && Number.isInteger(value) && (value as number) >= 0) {
        for (let i = 0; i < (value as number); i++) args.push(`--${option}`);
      } else {
        throw bad(multiple.has(key) ? "takes true, false or a count" : "takes true or false");
      }
      continue;
    }
    const values = Array.isArray(value) ? value : [value];
    if (Array.isArray(value) && !multiple.has(key)) {
      throw bad("takes one value (only repeatable options take a list)");
    }
    for (const v of values) {
      if (typeof v === "string") args.push(`--${option}=${v}`);
      else if (typeof v === "number" && Number.isFinite(v)) args.push(`--${option}=${v}`);
      else {throw bad(
          Array.isArray(value)
            ? "takes a list of strings or numbers"
            : "takes a string or a number",
        );}
    }
  }
  return args;
}

/**
 * Reads `path` (TOML, or JSON for `*.json`) and returns argv entries to put
 * in front of the real command line.
 */
export async function configFileArgs(path: string, options: ConfigFileOptions): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
    throw new ConfigFileError(`--config ${path}: cannot read it: ${why}`);
  }
  return configArgs(parseConfigText(text, path), path, options);
}
