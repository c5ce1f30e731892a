/**
 * The command line of `vncws replay`: its usage text, and the parser that
 * turns the words after `replay` into {@linkcode ReplayOptions}.
 * Self-contained, so the CLI layer can take it over.
 * @module
 */
import { parseArgs } from "node:util";

/** What `vncws replay` serves, and how. */
export interface ReplayOptions {
  /** The recording (websockify format FILE.<n>, or compact *.vncrec). */
  file: string;
  /** TCP port to listen on; 0 = any free port. */
  port: number;
  /** Address to listen on. */
  host: string;
  /** Playback speed: 2 = twice as fast, 0 = no pauses. */
  speed: number;
}

/** Defaults of the options `vncws replay` does not require. */
export const REPLAY_DEFAULTS: Omit<ReplayOptions, "file"> = {
  port: 5900,
  host: "127.0.0.1",
  speed: 1,
};

/** Help text for `vncws replay --help`. */
export const REPLAY_USAGE = `Usage: vncws replay FILE [--port P] [--host H] [--speed N]

Serves a --record recording (websockify format FILE.<n>, or compact *.vncrec)
as a VNC server, so a VNC viewer can watch the recorded session again.
Each viewer that connects sees the whole recording from the start.

  --port P     TCP port to listen on (default 5900)
  --host H     address to listen on (default 127.0.0.1)
  --speed N    playback speed: 2 = twice as fast, 0 = no pauses (default 1)

Watch in a browser: vncws 6080 127.0.0.1:5900, then open
http://127.0.0.1:6080/vnc.html?autoconnect=1
Recordings contain what the recorded user typed (passwords too): keep the
replay port private.
`;

/**
 * What the words after `replay` ask for: options to serve, the help text,
 * or a usage error (`message` is the whole text for stderr).
 */
export type ReplayArgs =
  | { kind: "serve"; options: ReplayOptions }
  | { kind: "help" }
  | { kind: "usage"; message: string };

/** Parses the words after `vncws replay`. */
export function parseReplayArgs(argv: string[]): ReplayArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        port: { type: "string" },
        host: { type: "string" },
        speed: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    return { kind: "usage", message: `vncws replay: ${(e as Error).message}\n\n${REPLAY_USAGE}` };
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: "help" };
  if (positionals.length !== 1) {
    return {
      kind: "usage",
      message: `vncws replay: give exactly one recording file\n\n${REPLAY_USAGE}`,
    };
  }
  const port = Number(values.port ?? REPLAY_DEFAULTS.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    return {
      kind: "usage",
      message: `vncws replay: --port ${values.port} is not a port number (0-65535)`,
    };
  }
  const speed = Number(values.speed ?? REPLAY_DEFAULTS.speed);
  if (!Number.isFinite(speed) || speed < 0) {
    return {
      kind: "usage",
      message: `vncws replay: --speed ${values.speed} must be a number ≥ 0 (0 = no pauses)`,
    };
  }
  return {
    kind: "serve",
    options: { file: positionals[0], port, host: values.host ?? REPLAY_DEFAULTS.host, speed },
  };
}
