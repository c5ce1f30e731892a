/**
 * The `vncws replay` command line: its option table
 * ({@linkcode REPLAY_COMMAND}), the parser and the entry point.
 * @module
 */
import { REPLAY_DEFAULTS, type ReplayOptions } from "../config/replay.ts";
import { type RunReplayOptions, serveReplay } from "../recording/replay.ts";
import { type CommandSpec, flag, parseOptions, renderHelp, valued } from "./table.ts";
import { number, port, text, UsageError } from "./values.ts";

/** Every `vncws replay` option, once. */
export const REPLAY_COMMAND: CommandSpec = {
  name: "vncws replay",
  usage: ["[options] RECORDING"],
  intro: [
    "Serves a --record recording as a VNC server, so a VNC viewer can watch the recorded " +
    "session again. Each viewer that connects sees the whole recording from the start. " +
    "Defaults are in brackets.",
    "Watch in a browser: vncws 6080 127.0.0.1:5900, then open " +
    "http://127.0.0.1:6080/vnc.html?autoconnect=1",
    "Recordings contain what the recorded user typed (passwords too): keep the replay " +
    "port private.",
  ],
  arguments: [["RECORDING", "websockify's FILE.<n>, or a compact *.vncrec"]],
  groups: [{ id: "main", title: "Options:" }],
  options: [
    valued("port", port(true), "main", "vncws", "TCP port to listen on; 0 = any free port", {
      default: REPLAY_DEFAULTS.port,
    }),
    valued("host", text("ADDR", "127.0.0.1"), "main", "vncws", "address to listen on", {
      default: REPLAY_DEFAULTS.host,
    }),
    valued(
      "speed",
      number,
      "main",
      "vncws",
      "playback speed: 2 = twice as fast, 0 = no pauses",
      { default: REPLAY_DEFAULTS.speed },
    ),
    flag("help", "main", "vncws", "show this help and exit", { short: "h" }),
  ],
};

/** `vncws replay --help`. */
export const REPLAY_HELP: string = renderHelp(REPLAY_COMMAND);

/** What the words after `replay` ask for. */
export type ReplayCommand = { kind: "help" } | { kind: "serve"; options: ReplayOptions };

/** Parses the words after `vncws replay`; throws {@linkcode UsageError}. */
export function parseReplayArgs(argv: string[]): ReplayCommand {
  const o = parseOptions(REPLAY_COMMAND, argv);
  if (o.given("help")) return { kind: "help" };
  if (o.positionals.length !== 1) {
    throw new UsageError(
      `give exactly one recording file (got ${o.positionals.length}: ${
        o.positionals.join(" ") || "none"
      })`,
    );
  }
  return {
    kind: "serve",
    options: {
      file: o.positionals[0],
      port: o.get<number>("port")!,
      host: o.get<string>("host")!,
      speed: o.get<number>("speed")!,
    },
  };
}

/**
 * `vncws replay …` (`argv` is what follows `replay`): the exit code. 0 after
 * SIGINT/SIGTERM (or `--help`), 1 for an unreadable recording or a port it
 * cannot listen on, 2 for a usage error.
 */
export async function replayMain(argv: string[], run: RunReplayOptions = {}): Promise<number> {
  let cmd: ReplayCommand;
  try {
    cmd = parseReplayArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`vncws replay: ${e.message}\nTry 'vncws replay --help' for the options.`);
    return 2;
  }
  if (cmd.kind === "help") {
    console.log(REPLAY_HELP);
    return 0;
  }
  return await serveReplay(cmd.options, run);
}
