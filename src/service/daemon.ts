/**
 * `-D/--daemon` without fork(): Deno cannot fork, so the parent starts a
 * copy of itself in a new session with no terminal and waits until that
 * copy reports that it listens (or why it could not), then exits. The user
 * sees start-up errors in the terminal, which websockify's double fork hides.
 * @module
 */
import { sleep } from "../base/time.ts";

/** The variable that makes the background copy report to its parent (a worker must not inherit it). */
export const CHILD_ENV = "VNCWS_DAEMON_READY_FILE";

/** True in the background copy. */
export function isDaemonChild(): boolean {
  return Deno.env.get(CHILD_ENV) !== undefined;
}

/** The argv that starts this same program again (deno run or the compiled binary). */
export function selfCommand(args: string[]): [string, string[]] {
  if (Deno.build.standalone) return [Deno.execPath(), args];
  return [Deno.execPath(), ["run", "-A", Deno.mainModule, ...args]];
}

/**
 * Starts the background copy and waits for its report; resolves the exit
 * code for the foreground process (0 once the daemon listens).
 */
export async function daemonize(
  args: string[],
  options: { timeoutMs?: number } = {},
): Promise<number> {
  const dir = Deno.makeTempDirSync({ prefix: "vncws-daemon-" });
  const ready = `${dir}/ready`;
  const [cmd, cmdArgs] = selfCommand(args);
  const child = new Deno.Command(cmd, {
    args: cmdArgs,
    env: { [CHILD_ENV]: ready },
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: true,
  }).spawn();
  child.unref();
  let exited: Deno.CommandStatus | undefined;
  child.status.then((s) => exited = s);
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  try {
    while (Date.now() < deadline) {
      let text: string | undefined;
      try {
        text = Deno.readTextFileSync(ready);
      } catch { /* not yet */ }
      if (text !== undefined && text.endsWith("\n")) {
        if (text.startsWith("ok")) {
          console.error(`vncws: running in the background as pid ${child.pid}`);
          return 0;
        }
        console.error(`vncws: ${text.trim()}`);
        try {
          Deno.kill(-child.pid, "SIGTERM");
        } catch { /* it exits by itself after reporting the error */ }
        return 1;
      }
      if (exited) {
        console.error(
          `vncws: the background process exited with code ${exited.code} before it listened`,
        );
        return exited.code || 1;
      }
      await sleep(50);
    }
    console.error("vncws: the background process did not report in time; check its --log-file");
    // Do not leave a half-started daemon behind: stop its whole session.
    try {
      Deno.kill(-child.pid, "SIGTERM");
    } catch { /* already gone */ }
    return 1;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** In the background copy: report success or a start-up error to the waiting parent. */
export function reportToParent(result: { ok: true } | { ok: false; error: string }): void {
  const path = Deno.env.get(CHILD_ENV);
  if (!path) return;
  try {
    Deno.writeTextFileSync(path, result.ok ? "ok\n" : `${result.error.replaceAll("\n", " ")}\n`);
  } catch { /* parent gave up */ }
}
