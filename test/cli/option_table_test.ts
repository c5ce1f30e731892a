/**
 * The option tables are the one statement of each command's options: help
 * lists each option once with its default, the defaults are the parser's,
 * every listed option parses, and README.md's tables are what the tables
 * render.
 */
import assert from "node:assert/strict";
import { type Command, HELP, parseCommandLine } from "../../src/cli/cli.ts";
import { PROXY_COMMAND } from "../../src/cli/proxy_options.ts";
import { BRIDGE_COMMAND, BRIDGE_HELP, parseBridgeArgs } from "../../src/cli/bridge.ts";
import { REPLAY_COMMAND } from "../../src/cli/replay.ts";
import {
  type CommandSpec,
  defaultText,
  type OptionSpec,
  optionUsage,
  renderHelp,
} from "../../src/cli/table.ts";
import { readmeSections, REGENERATE, sectionIn } from "../../src/cli/readme.ts";
import { configFileOptions } from "../../src/cli/config_file.ts";
import {
  type Config,
  DEFAULT_LIMITS,
  DEFAULT_WRAP,
  defaultConfig,
} from "../../src/config/config.ts";
import { BRIDGE_DEFAULTS, type BridgeConfig } from "../../src/config/bridge.ts";

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The help lines that start an option's entry. */
function entryLines(help: string, spec: CommandSpec): string[] {
  const args = (spec.arguments ?? []).map(([a]) => `  ${a}`);
  return help.split("\n").filter((l) => /^ {2}-/.test(l) && !args.some((a) => l.startsWith(a)));
}

function checkHelp(spec: CommandSpec, help: string) {
  const entries = entryLines(help, spec);
  for (const o of spec.options) {
    const re = new RegExp(`^ {2}${escape(optionUsage(o))}( |$)`);
    const hits = entries.filter((l) => re.test(l));
    assert.equal(hits.length, 1, `${spec.name} --help lists --${o.name} ${hits.length} times`);
    const d = defaultText(o);
    if (d !== undefined) {
      // The default is the entry's last bracket, possibly on a continuation line.
      const at = help.split("\n").indexOf(hits[0]);
      const entry = help.split("\n").slice(at).join("\n").split(/\n {2}(?=-)|\n\n/)[0];
      assert.match(entry, new RegExp(`\\[${escape(d)}\\]$`), `--${o.name}'s default in help`);
    }
  }
  // Nothing listed that the table lacks.
  assert.equal(entries.length, spec.options.length, `${spec.name} --help has extra entries`);
}

Deno.test("vncws --help lists every option of the table exactly once, with its default", () => {
  checkHelp(PROXY_COMMAND, HELP);
  assert.equal(HELP, renderHelp(PROXY_COMMAND));
  // websockify's usage line shape.
  assert.match(
    HELP,
    /\n {2}vncws \[options\] \[source_addr:\]source_port target_addr:target_port\n/,
  );
  // 68 when the table was made; issue 16 added --ban-after, --ban-window, --ban-time,
  // --ban-redis, --allow-target, --deny-target, --jwt-secret-encoding, --jwt-audience,
  // --jwt-issuer, --forwarded-header and --cert-dir; issue 17 --drain-delay, --workers,
  // --state-redis, --accept-proxy-protocol; issue 18 --max-session, --token-recheck,
  // --target-password-file, --target-username, --rfb-auth, --target-cert, --target-key,
  // --view-only, --clipboard;
  // issue 19 --viewer-defaults, --viewer-mandatory.
  assert.equal(PROXY_COMMAND.options.length, 94, "the proxy's option count changed");
});

Deno.test("vncws bridge --help lists every option of the table exactly once, with its default", () => {
  checkHelp(BRIDGE_COMMAND, BRIDGE_HELP);
  assert.match(BRIDGE_HELP, /\n {2}vncws bridge \[options\] \[listen_addr:\]listen_port URL\n/);
});

Deno.test("the checker catches an option listed twice or missing, and a wrong default", () => {
  const twice = HELP + "  --heartbeat SEC            again\n";
  assert.throws(() => checkHelp(PROXY_COMMAND, twice), /--heartbeat 2 times/);
  const missing = HELP.replace(/\n {2}--raw-wait SEC[^\n]*/, "");
  assert.throws(() => checkHelp(PROXY_COMMAND, missing), /--raw-wait 0 times/);
  const wrong = HELP.replace("[10]\n", "[11]\n");
  assert.throws(() => checkHelp(PROXY_COMMAND, wrong), /default in help/);
});

/** Where each proxy option with a default lands in Config. */
const PROXY_FIELDS: Record<string, (c: Config) => unknown> = {
  "unix-listen-mode": (c) => c.unixListenMode,
  "raw-wait": (c) => c.limits.rawWait,
  "ban-after": (c) => c.bans.after,
  "forwarded-header": (c) => c.forwardedHeader,
  "ban-window": (c) => c.bans.window,
  "ban-time": (c) => c.bans.time,
  "connect-timeout": (c) => c.limits.connectTimeout,
  heartbeat: (c) => c.heartbeat,
  "ping-timeout": (c) => c.pingTimeout,
  "session-idle-timeout": (c) => c.sessionIdleTimeout,
  "max-session": (c) => c.limits.maxSession,
  "token-recheck": (c) => c.limits.tokenRecheck,
  "frame-options": (c) => c.frameOptions,
  "token-path-prefix": () => undefined, // absent: the router uses its default prefix
  "jwt-secret-encoding": (c) => c.jwtSecretEncoding,
  "wrap-mode": (c) => c.wrap?.mode,
  "wrap-port-arg": (c) => c.wrap?.portArg,
  "wrap-ready-timeout": (c) => c.wrap?.readyTimeout,
  "max-connections": (c) => c.limits.maxConnections,
  "max-per-ip": (c) => c.limits.maxPerIp,
  "max-per-token": (c) => c.limits.maxPerToken,
  "handshake-rate": (c) => c.limits.handshakeRate,
  "max-message-size": (c) => c.limits.maxMessageBytes,
  "max-head-size": (c) => c.limits.maxHeadBytes,
  "max-headers": (c) => c.limits.maxHeaders,
  "head-timeout": (c) => c.limits.headTimeout,
  "log-format": (c) => c.logFormat,
  timeout: (c) => c.timeout,
  "idle-timeout": (c) => c.idleTimeout,
  "drain-timeout": (c) => c.drainTimeout,
  "drain-delay": (c) => c.drainDelay,
  workers: (c) => c.workers,
};

function run(argv: string[]): Config {
  const c: Command = parseCommandLine(argv);
  assert.equal(c.kind, "run", argv.join(" "));
  return (c as { config: Config }).config;
}

Deno.test("proxy defaults: help shows what the parser uses, from src/config/", () => {
  const plain = run(["6080", "h:1"]);
  const wrapped = run(["5901", "--", "Xvnc", ":1"]);
  const withDefault = PROXY_COMMAND.options.filter((o) => o.default !== undefined);
  assert.deepEqual(withDefault.map((o) => o.name).sort(), Object.keys(PROXY_FIELDS).sort());
  for (const o of withDefault) {
    if (o.name === "token-path-prefix") continue;
    const c = o.name.startsWith("wrap-") ? wrapped : plain;
    // The frame-options value "none" is stored as "" (no header).
    assert.deepEqual(PROXY_FIELDS[o.name](c), o.default, `--${o.name}`);
    // What help shows parses back to the default.
    assert.deepEqual(o.value!.parse(defaultText(o)!, `--${o.name}`), o.default, `--${o.name}`);
  }
  // The values themselves live in src/config/ only.
  assert.equal(plain.drainTimeout, defaultConfig().drainTimeout);
  assert.equal(plain.limits.maxMessageBytes, DEFAULT_LIMITS.maxMessageBytes);
  assert.equal(wrapped.wrap?.readyTimeout, DEFAULT_WRAP.readyTimeout);
  assert.match(HELP, new RegExp(`--wrap-ready-timeout SEC .*\\[${DEFAULT_WRAP.readyTimeout}\\]`));
  assert.match(HELP, /--max-message-size SIZE[^[]*\[64M\]/);
});

Deno.test("bridge defaults: help shows what the parser uses, from src/config/", () => {
  const cmd = parseBridgeArgs(["5900", "ws://h/"]);
  const c = (cmd as { config: BridgeConfig }).config;
  assert.equal(c.connectTimeout, BRIDGE_DEFAULTS.connectTimeout);
  assert.equal(c.pingInterval, BRIDGE_DEFAULTS.pingInterval);
  assert.equal(c.pingTimeout, BRIDGE_DEFAULTS.pingTimeout);
  assert.equal(c.logFormat, BRIDGE_DEFAULTS.logFormat);
  assert.match(BRIDGE_HELP, new RegExp(`--connect-timeout SEC[^[]*\\[${c.connectTimeout}\\]`));
});

/** A VNC password file for `--target-password-file` (read while the options are parsed). */
const PASSWORD_FILE = Deno.makeTempFileSync({ prefix: "vncws-pw-" });
Deno.writeTextFileSync(PASSWORD_FILE, "pw\n");
globalThis.addEventListener("unload", () => Deno.removeSync(PASSWORD_FILE));

/** The smallest command line around one option, so that only the option is new. */
function proxyContext(o: OptionSpec): { before: string[]; after: string[] } {
  const n = o.name;
  if (n.startsWith("wrap-")) return { before: ["5901"], after: ["--", "Xvnc", ":1"] };
  if (n === "token-plugin" || n === "target-config") return { before: ["6080"], after: [] };
  if (n === "token-source" || n === "host-token") {
    return { before: ["--token-plugin", "TokenFile", "6080"], after: [] };
  }
  if (n.startsWith("jwt-")) return { before: ["--token-plugin", "JWTTokenApi", "6080"], after: [] };
  if (n === "unix-target" || n === "demo") return { before: ["6080"], after: [] };
  if (n === "unix-listen" || n === "inetd") return { before: ["h:1"], after: [] };
  if (n === "unix-listen-mode") {
    return { before: ["--unix-listen", "/tmp/x.sock", "h:1"], after: [] };
  }
  const first = typeof o.needs === "string" ? o.needs : o.needs?.[0];
  const need = first ? optionArgs(PROXY_COMMAND.options.find((x) => x.name === first)!) : [];
  return { before: [...need, "6080", "h:1"], after: [] };
}

/** A viewer settings file for --viewer-defaults and --viewer-mandatory (read as they parse). */
const VIEWER_SETTINGS = Deno.makeTempFileSync({ suffix: ".json" });
Deno.writeTextFileSync(VIEWER_SETTINGS, '{"resize": "scale"}');
globalThis.addEventListener("unload", () => Deno.removeSync(VIEWER_SETTINGS));

/** The option with a value that is not its default. */
function optionArgs(o: OptionSpec): string[] {
  if (!o.value) return [`--${o.name}`];
  const others: Record<string, string> = {
    "frame-options": "DENY",
    "wrap-mode": "respawn",
    "wrap-port-arg": "arg",
    "log-format": "json",
    "proxy-protocol": "v2",
    "jwt-secret-encoding": "raw",
    "forwarded-header": "forwarded",
    "viewer-defaults": VIEWER_SETTINGS,
    "viewer-mandatory": VIEWER_SETTINGS,
    "target-password-file": PASSWORD_FILE,
  };
  return [`--${o.name}`, others[o.name] ?? o.value.example];
}

/** Options whose effect is a warning or nothing (websockify compatibility). */
const NO_EFFECT = new Set(["libserver", "file-only"]);

Deno.test("every option help lists parses and changes the configuration", () => {
  for (const o of PROXY_COMMAND.options) {
    if (o.name === "help" || o.name === "version") {
      assert.equal(parseCommandLine(optionArgs(o)).kind, o.name);
      continue;
    }
    if (o.name === "config") continue; // read by proxy_main before parsing
    const { before, after } = proxyContext(o);
    let without: Command | undefined;
    try {
      without = parseCommandLine([...before, ...after]);
    } catch { /* the option is what makes the line valid */ }
    let cmd: Command;
    try {
      cmd = parseCommandLine([...before, ...optionArgs(o), ...after]);
    } catch (e) {
      throw new Error(`--${o.name}: ${(e as Error).message}`);
    }
    assert.equal(cmd.kind, "run", `--${o.name}`);
    if (!NO_EFFECT.has(o.name) && without) {
      assert.notDeepEqual(cmd, without, `--${o.name} changed nothing`);
    }
  }
});

Deno.test("every bridge option help lists parses", () => {
  const base = ["5900", "wss://h/"];
  const context: Record<string, string[]> = {
    "unix-listen": ["wss://h/"],
    stdio: ["wss://h/"],
    "url-command": ["5900"],
    cert: ["--key", "k.pem", ...base],
    key: ["--cert", "c.pem", ...base],
    "ping-timeout": ["--ping-interval", "5", ...base],
  };
  const without = parseBridgeArgs(base);
  for (const o of BRIDGE_COMMAND.options) {
    const args = optionArgs(o);
    if (o.name === "help") {
      assert.equal(parseBridgeArgs(args).kind, "help");
      continue;
    }
    const cmd = parseBridgeArgs([...args, ...(context[o.name] ?? base)]);
    assert.equal(cmd.kind, "run", `--${o.name}`);
    if (!["binary", "exit-on-eof"].includes(o.name) && !context[o.name]) {
      assert.notDeepEqual(cmd, without, `--${o.name} changed nothing`);
    }
  }
});

Deno.test("--config keys come from the table: every long option but config/help/version", () => {
  const keys = configFileOptions(PROXY_COMMAND);
  const settable = Object.keys(keys.knownOptions).filter((k) => ![...keys.notInFile!].includes(k));
  assert.equal(settable.length, PROXY_COMMAND.options.length - 3);
  assert.deepEqual([...keys.notInFile!].sort(), ["config", "help", "version"]);
  assert.deepEqual([...keys.multiple!].sort(), [
    "accept-proxy-protocol",
    "allow-ip",
    "allow-origin",
    "allow-target",
    "cert",
    "deny-ip",
    "deny-target",
    "key",
    "trusted-proxy",
    "verbose",
  ]);
});

const README = new URL("../../README.md", import.meta.url);

Deno.test("README.md's option tables are the ones the option tables render", () => {
  const readme = Deno.readTextFileSync(README);
  for (const [name, text] of readmeSections()) {
    const inReadme = sectionIn(readme, name);
    assert.ok(inReadme !== undefined, `README.md lost the markers of its ${name}`);
    assert.ok(
      inReadme === text,
      `README.md's ${name} differ from the option table: run '${REGENERATE}'`,
    );
  }
});

Deno.test("README.md's option sections name no option the tables lack", () => {
  const readme = Deno.readTextFileSync(README);
  const known = new Set(
    [...PROXY_COMMAND.options, ...BRIDGE_COMMAND.options, ...REPLAY_COMMAND.options]
      .map((o) => o.name),
  );
  const sections = readme.split(/^(?=## )/m).filter((s) =>
    /^## (Options|Migrating from websockify|Client bridge)/.test(s)
  );
  assert.equal(sections.length, 3);
  const websocat = sectionIn(readme, "websocat options") ?? "";
  for (const s of sections) {
    const text = s.replace(websocat, ""); // websocat's own options, refused by name
    for (const m of text.matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)/g)) {
      assert.ok(known.has(m[1]), `README.md mentions --${m[1]}, which no option table has`);
    }
  }
});
