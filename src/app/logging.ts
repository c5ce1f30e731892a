/**
 * The log set-up of a proxy process (`run.ts`) and of a `--workers` parent
 * (`workers.ts`): level, format, `--log-file`, `--syslog` (loaded only when
 * asked for: every module costs start-up time), and in a relay process the
 * `worker=N` field every line carries.
 * @module
 */
import { addLogSink, configureLog } from "../base/log.ts";
import type { Config } from "../config/config.ts";

/** Configures logging for `config`; resolves the clean-up (syslog closed), if any. */
export async function startLogging(config: Config): Promise<(() => void) | undefined> {
  configureLog({
    verbose: config.verbose,
    format: config.logFormat,
    file: config.logFile,
    context: config.worker ? { worker: config.worker.id } : undefined,
  });
  if (!config.syslog) return undefined;
  const { createSyslogSink } = await import("../service/syslog.ts");
  const syslog = createSyslogSink(config.syslog, {
    legacy: config.legacySyslog,
    facility: config.daemon ? "daemon" : "user",
  });
  const remove = addLogSink(syslog);
  return () => {
    remove();
    syslog.close();
  };
}
