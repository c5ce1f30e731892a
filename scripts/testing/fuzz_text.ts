/**
 * Fuzz properties for the text parsers: token files
 * (src/route/token_file.ts `parseTokenFileText`) and the command line
 * (src/cli/cli.ts `parseCommandLine`, its option names taken from the option
 * table). Random input gives a result that keeps
 * every invariant, or a clear error; nothing else.
 * @module
 */
import fc from "fast-check";
import { parseTokenFileText } from "../../src/route/token_file.ts";
import { type Command, parseCommandLine, PROXY_COMMAND, UsageError } from "../../src/cli/cli.ts";
import type { Target } from "../../src/net/address.ts";

const tokenWords = fc.oneof(
  fc.constantFrom("a", "desk1", "tok-ü", "x y", "#c", "", " ", "a:b", "../x.sock", "\t"),
  fc.string({ unit: "binary", maxLength: 12 }),
);
const separators = fc.constantFrom(": ", ":\t", ":", " : ", ":  ", "", ": : ", ":\r");
const targetTexts = fc.oneof(
  fc.constantFrom(
    "127.0.0.1:5900",
    "host:1",
    "host:65535",
    "host:0",
    "host:65536",
    "host:-1",
    "host:5900x",
    "[::1]:5900",
    "::1:5900",
    "[::1]",
    ":5900",
    "unix_socket:/tmp/x.sock",
    "unix_socket:",
    "unix_socket: /x",
    "host: 5900",
    "",
  ),
  fc.string({ unit: "binary", maxLength: 20 }),
);
const lineEnds = fc.constantFrom("\n", "\r\n", "\n\n", "\r", "");

/** Random token file text, line by line. */
export const tokenFileText = fc.array(
  fc.oneof(
    fc.tuple(fc.constantFrom("", " ", "\t", "#"), tokenWords, separators, targetTexts, lineEnds)
      .map((p) => p.join("")),
    fc.string({ unit: "binary", maxLength: 60 }),
  ),
  { maxLength: 20 },
).map((lines) => lines.join("\n"));

function validTarget(t: Target): boolean {
  if (t.kind === "unix") return t.path.length > 0;
  return Number.isInteger(t.port) && t.port >= 1 && t.port <= 65535 && t.hostname !== "" &&
    !t.hostname.startsWith("[");
}

/**
 * Token files: any text parses (bad lines are skipped), every entry has a
 * trimmed non-empty token and a valid target; a well-formed line added at
 * the end always wins.
 */
export const tokenFileRandom: fc.IPropertyWithHooks<[string, string, number]> = fc.property(
  tokenFileText,
  fc.stringMatching(/^[A-Za-z0-9_.~-]{1,20}$/),
  fc.integer({ min: 1, max: 65535 }),
  (text, token, port) => {
    const entries = parseTokenFileText(text, "fuzz.conf");
    for (const [k, v] of entries) {
      if (k === "" || k !== k.trim() || k.includes("\n")) {
        throw new Error(`bad token ${JSON.stringify(k)}`);
      }
      if (!validTarget(v.target)) {
        throw new Error(`bad target for ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
      }
    }
    const more = parseTokenFileText(`${text}\n${token}: 127.0.0.1:${port}\n`, "fuzz.conf");
    const t = more.get(token)?.target;
    if (!t || t.kind !== "tcp" || t.hostname !== "127.0.0.1" || t.port !== port) {
      throw new Error(`the last line for ${token} did not win: ${JSON.stringify(t)}`);
    }
  },
);

/** Every option of the proxy's table (long and short), plus misspellings and odd forms. */
const optionNames = fc.constantFrom(
  ...PROXY_COMMAND.options.flatMap((o) => [`--${o.name}`, ...(o.short ? [`-${o.short}`] : [])]),
  "-vv",
  "--web=none",
  "--nosuch",
  "--webb",
  "-x",
  "--",
  "-",
);
const argValues = fc.oneof(
  fc.constantFrom(
    "6080",
    "0",
    "65536",
    "127.0.0.1:5900",
    "[::1]:5900",
    "::1:6080",
    ":5900",
    "host:",
    "TokenFile",
    "BasicHTTPAuth",
    "user:pw",
    "exit",
    "respawn",
    "json",
    "0600",
    "9999",
    "64K",
    "1G",
    "-1",
    "1e3",
    "NaN",
    "Infinity",
    "/websockify/",
    "v2",
    "",
    "Xvnc",
    ":1",
  ),
  fc.string({ unit: "binary", maxLength: 12 }),
);

/** Random argv: options (with and without values) and positionals in any order. */
export const argvArbitrary = fc.array(fc.oneof(optionNames, argValues), { maxLength: 10 });

function checkCommand(cmd: Command): void {
  if (cmd.kind !== "run") return;
  const c = cmd.config;
  if (!c.listen && !c.unixListen && !c.inetd) throw new Error("no listen address");
  if (c.listen && (c.listen.port < 1 || c.listen.port > 65535)) {
    throw new Error(`bad listen port ${c.listen.port}`);
  }
  if (!c.target && !c.tokenPlugin && !c.wrap && !c.demo) throw new Error("no target");
  if (c.target && !validTarget(c.target)) throw new Error(`bad target ${JSON.stringify(c.target)}`);
  for (const [k, v] of Object.entries(c.limits)) {
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
      throw new Error(`limit ${k} is ${v}`);
    }
  }
  if (c.limits.headTimeout <= 0 || c.limits.maxConnections < 1) {
    throw new Error("a limit that must be positive is 0");
  }
}

/**
 * CLI: random argv gives a Command that keeps the config invariants, or a
 * UsageError with a one-line message; nothing else is thrown.
 */
export const cliRandom: fc.IPropertyWithHooks<[string[]]> = fc.property(argvArbitrary, (argv) => {
  let cmd: Command;
  try {
    cmd = parseCommandLine(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) {
      throw new Error(`argv ${JSON.stringify(argv)} threw ${e} instead of a UsageError`);
    }
    if (e.message.trim() === "") throw new Error(`empty UsageError for ${JSON.stringify(argv)}`);
    return;
  }
  checkCommand(cmd);
});
