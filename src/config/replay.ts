/**
 * What `vncws replay` serves and how, as plain data, with its defaults:
 * filled in by the CLI (src/cli/replay.ts), read by src/recording/replay.ts.
 * @module
 */

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
