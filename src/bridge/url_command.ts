/**
 * `--url-command CMD`: a fresh WebSocket URL for each new connection, for
 * single-use tickets (VMware WebMKS). CMD runs with `sh -c`; the first line
 * of its stdout is the URL. The URL is never shown in errors (it is a
 * credential); the command's own stderr is.
 * @module
 */
import { parseWsUrl, WsUrlError } from "./ws_url.ts";

/** Options for {@linkcode runUrlCommand}. */
export interface UrlCommandOptions {
  /** Kill the command and fail after this many milliseconds. */
  timeoutMs: number;
}

/** The command failed or printed no usable URL; the message says which. */
export class UrlCommandError extends Error {}

const dec = new TextDecoder();

function tail(text: string, max = 300): string {
  const t = text.trim();
  return t.length > max ? "…" + t.slice(-max) : t;
}

/** Runs `cmd` and returns the URL it printed. Throws {@linkcode UrlCommandError}. */
export async function runUrlCommand(cmd: string, options: UrlCommandOptions): Promise<URL> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("sh", {
      args: ["-c", cmd],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    throw new UrlCommandError(`cannot run --url-command: ${(e as Error).message}`);
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, options.timeoutMs);
  const out = await child.output().finally(() => clearTimeout(timer));
  const stderr = tail(dec.decode(out.stderr));
  if (timedOut) {
    throw new UrlCommandError(
      `--url-command did not finish within ${options.timeoutMs / 1000}s and was stopped` +
        (stderr ? `; its stderr: ${stderr}` : ""),
    );
  }
  if (!out.success) {
    throw new UrlCommandError(
      `--url-command failed (exit ${out.code}${out.signal ? `, ${out.signal}` : ""})` +
        (stderr ? `: ${stderr}` : ""),
    );
  }
  const first = dec.decode(out.stdout).split("\n")[0].trim();
  if (first === "") {
    throw new UrlCommandError("--url-command printed nothing; it must print the URL first");
  }
  try {
    return parseWsUrl(first, "the URL printed by --url-command");
  } catch (e) {
    if (e instanceof WsUrlError) throw new UrlCommandError(e.message);
    throw e;
  }
}
