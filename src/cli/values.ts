/**
 * The value parsers every subcommand shares (proxy, bridge, replay): seconds,
 * whole numbers, sizes such as 64K or 16M, ports, addresses and fixed
 * choices, and the one usage error they throw. Each parser also knows how to
 * show a value, so `--help` and the README print defaults the way a user
 * would type them.
 * @module
 */
export type { HostPort };
import { type HostPort, parseHostPort, parseListen, parsePort } from "../net/address.ts";

/** A command-line mistake: the caller prints the message and exits 2. */
export class UsageError extends Error {}

/** How an option's text becomes a value, and how a value is written back. */
export interface ValueType<T> {
  /** The placeholder in `--help`: SEC, N, SIZE, FILE… */
  placeholder: string;
  /** Parses `text` given to `flag` (e.g. "--timeout"); throws {@linkcode UsageError}. */
  parse(text: string, flag: string): T;
  /** The value as a user would type it. */
  show(value: T): string;
  /** A valid example, for tests that try every option. */
  example: string;
}

/** A finite number ≥ 0 (fractions allowed); `what` names it in the error. */
function nonNegative(placeholder: string, example: string, what: string): ValueType<number> {
  return {
    placeholder,
    example,
    parse(text, flag) {
      const n = Number(text);
      if (text.trim() === "" || !Number.isFinite(n) || n < 0) {
        throw new UsageError(`${flag} takes ${what}, got "${text}"`);
      }
      return n;
    },
    show: String,
  };
}

/** A number of seconds, 0 or more, fractions allowed. */
export const seconds: ValueType<number> = nonNegative(
  "SEC",
  "2.5",
  "a number of seconds (0 or more, e.g. 30)",
);

/** A number, 0 or more, fractions allowed (rates, speeds). */
export const number: ValueType<number> = nonNegative("N", "2", "a number (0 or more)");

/** A whole number, 0 or more. */
export const wholeNumber: ValueType<number> = {
  placeholder: "N",
  example: "7",
  parse(text, flag) {
    if (!/^\d+$/.test(text)) throw new UsageError(`${flag} takes a whole number, got "${text}"`);
    return Number(text);
  },
  show: String,
};

const UNITS = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as const;

/** Parses sizes like `65536`, `64k`, `16M`, `1G` (binary units). */
export function parseSize(value: string, name: string): number {
  const m = /^(\d+)\s*([kKmMgG]?)i?[bB]?$/.exec(value.trim());
  if (!m) throw new UsageError(`--${name} takes a size like 65536, 64K or 16M, got "${value}"`);
  return Number(m[1]) * UNITS[m[2].toLowerCase() as keyof typeof UNITS];
}

/** A byte count: `65536`, `64K`, `16M`, `1G`. */
export const size: ValueType<number> = {
  placeholder: "SIZE",
  example: "1M",
  parse: (text, flag) => parseSize(text, flag.replace(/^-+/, "")),
  show(bytes) {
    for (const [unit, mult] of [["G", UNITS.g], ["M", UNITS.m], ["K", UNITS.k]] as const) {
      if (bytes >= mult && bytes % mult === 0) return `${bytes / mult}${unit}`;
    }
    return String(bytes);
  },
};

/** A TCP port, 1–65535 (`allowZero`: 0 picks a free one). */
export function port(allowZero = false): ValueType<number> {
  return {
    placeholder: "PORT",
    example: "5900",
    parse(text, flag) {
      if (allowZero && text === "0") return 0;
      try {
        return parsePort(text, flag);
      } catch (e) {
        if (!allowZero) throw new UsageError((e as Error).message);
        throw new UsageError(
          `${flag} "${text}" is not a port number (0 to 65535; 0 = any free one)`,
        );
      }
    },
    show: String,
  };
}

/** `[addr:]port`; a bare port gives hostname "". */
export const listenAddress: ValueType<HostPort> = {
  placeholder: "[ADDR:]PORT",
  example: "9180",
  parse(text, flag) {
    try {
      return parseListen(text);
    } catch (e) {
      throw new UsageError(`${flag}: ${(e as Error).message}; give [addr:]port, e.g. 9180`);
    }
  },
  show: (hp) => (hp.hostname ? `${hp.hostname}:${hp.port}` : String(hp.port)),
};

/** `host:port` (a host is required). */
export const hostPort: ValueType<HostPort> = {
  placeholder: "HOST:PORT",
  example: "127.0.0.1:5900",
  parse(text, flag) {
    try {
      return parseHostPort(text, flag);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  },
  show: (hp) => `${hp.hostname}:${hp.port}`,
};

/** Any text, named by `placeholder` (FILE, DIR, NAME…). */
export function text(placeholder: string, example = "x"): ValueType<string> {
  return { placeholder, example, parse: (t) => t, show: (t) => t };
}

/** An octal file mode such as 0600. */
export const octalMode: ValueType<number> = {
  placeholder: "OCT",
  example: "0660",
  parse(text, flag) {
    if (!/^[0-7]{3,4}$/.test(text)) {
      throw new UsageError(`${flag} takes an octal mode like 0600, got "${text}"`);
    }
    return parseInt(text, 8);
  },
  show: (mode) => mode.toString(8).padStart(4, "0"),
};

/** How {@linkcode oneOf} matches. */
export interface OneOfOptions {
  /** Other spellings of a choice: `{ "1": "v1" }`. */
  aliases?: Record<string, string>;
  /** Match without regard to case (the choice's own spelling is returned). */
  ignoreCase?: boolean;
  /** The placeholder; default: the choices joined by `|`. */
  placeholder?: string;
}

/** Exactly one of `choices`. */
export function oneOf<T extends string>(
  choices: readonly T[],
  options: OneOfOptions = {},
): ValueType<T> {
  const key = (s: string) => (options.ignoreCase ? s.toLowerCase() : s);
  const byKey = new Map<string, T>(choices.map((c) => [key(c), c]));
  for (const [alias, c] of Object.entries(options.aliases ?? {})) byKey.set(key(alias), c as T);
  const list = choices.length === 1
    ? choices[0]
    : `${choices.slice(0, -1).join(", ")} or ${choices.at(-1)}`;
  return {
    placeholder: options.placeholder ?? choices.join("|"),
    example: choices[0],
    parse(text, flag) {
      const c = byKey.get(key(text));
      if (c === undefined) throw new UsageError(`${flag} is ${list}, got "${text}"`);
      return c;
    },
    show: (c) => c,
  };
}

/** `--log-format`: text or json (every command that logs). */
export const logFormat: ValueType<"text" | "json"> = oneOf(["text", "json"] as const);
