/**
 * The command line's proxy: {@linkcode startProxy} (src/app/start.ts, the
 * same construction the library's `serve` uses) plus what belongs to a
 * process — SIGINT/SIGTERM drain and stop, SIGHUP reload, the daemon's
 * report to its parent and systemd's READY. main.ts parses argv and calls
 * {@linkcode runProxy}.
 * @module
 */
import { type Config, WORKER_STOP_SIGNAL } from "../config/config.ts";
import { notifyReady } from "../service/systemd.ts";
import { reportToParent } from "../service/daemon.ts";
import { startProxy, viewerUrls } from "./start.ts";

export { viewerUrls };

/** Options for {@linkcode runProxy}. */
export interface RunOptions {
  /** Re-reads the configuration (the `--config` file) on SIGHUP. */
  reload?: () => Promise<Config>;
}

/** Runs the proxy until it should exit; resolves the process exit code. */
export async function runProxy(config: Config, options: RunOptions = {}): Promise<number> {
  const proxy = await startProxy(config);
  reportToParent({ ok: true });
  void notifyReady();
  proxy.lifecycle.watchSignals({
    drainDelay: config.drainDelay,
    drainTimeout: config.drainTimeout,
    openSessions: () => proxy.openSessions(),
    stopSignal: config.worker ? WORKER_STOP_SIGNAL : undefined,
  }, () => proxy.hangup(options.reload));
  const code = await proxy.finished;
  // The signal listeners were added after the start; a run that ended at once still drops them.
  await proxy.lifecycle.close();
  return code;
}
