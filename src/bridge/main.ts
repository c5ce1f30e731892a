/**
 * `vncws bridge`: a local TCP port bridged to a remote WebSocket console.
 * @module
 */

/** Runs the bridge with its own argv; resolves the exit code. */
export function runBridge(_argv: string[]): Promise<number> {
  console.error("vncws: not supported yet: the bridge subcommand");
  return Promise.resolve(2);
}
