/**
 * Logging: websockify-like text lines on stderr by default, or one JSON
 * object per line (`--log-format json`), optionally copied to a file.
 * Kept off the relay hot path: sessions log once at start and once at end.
 * @module
 */

/** Log levels, most severe first. */
export type Level = "error" | "warn" | "info" | "debug";

const RANK: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** Options for {@linkcode configureLog}. */
export interface LogOptions {
  /** 0 = info, 1+ = debug. */
  verbose?: number;
  /** `text` (default) or one JSON object a line. */
  format?: "text" | "json";
  /** Also append every line to this file. */
  file?: string;
  /** Where lines go (default stderr); tests capture through this. */
  sink?: (line: string) => void;
  /**
   * Fields every line carries, first (`worker=2` in a `--workers` relay
   * process: the lines of N processes share one stderr and log file).
   */
  context?: Record<string, unknown>;
}

const encoder = new TextEncoder();
let maxRank = RANK.info;
let format: "text" | "json" = "text";
let file: Deno.FsFile | undefined;
let filePath: string | undefined;
let sink: ((line: string) => void) | undefined;
let context: Record<string, unknown> | undefined;

// Lines for stderr and the log file are batched: a burst of sessions costs
// one write per event-loop turn instead of one per line. Warnings and errors
// flush at once, so nothing important waits in memory.
let pending: string[] = [];
let flushTimer: ReturnType<typeof setTimeout> | undefined;

/** Writes the batched lines now (called before the process exits). */
export function flushLog(): void {
  if (flushTimer !== undefined) {
    clearTimeout(flushTimer);
    flushTimer = undefined;
  }
  if (pending.length === 0) return;
  const bytes = encoder.encode(pending.join("\n") + "\n");
  pending = [];
  try {
    Deno.stderr.writeSync(bytes);
  } catch { /* stderr closed (daemon) */ }
  if (file) {
    try {
      file.writeSync(bytes);
    } catch { /* disk full: stderr still has it */ }
  }
}

/** Sets level, format and destinations. Call once at start (and on SIGHUP to reopen the file). */
export function configureLog(options: LogOptions): void {
  maxRank = (options.verbose ?? 0) > 0 ? RANK.debug : RANK.info;
  format = options.format ?? "text";
  if (options.sink) sink = options.sink;
  if (options.context) context = { ...options.context };
  if (options.file !== undefined) {
    filePath = options.file;
    reopenLogFile();
  }
}

/** Reopens the log file (logrotate moves it away, SIGHUP asks for a new one). */
export function reopenLogFile(): void {
  if (filePath === undefined) return;
  flushLog(); // lines logged before the rotation belong to the old file
  try {
    file?.close();
  } catch { /* already closed */ }
  file = Deno.openSync(filePath, { append: true, create: true, mode: 0o640 });
}

/** True when messages of `level` are written (to skip building costly ones). */
export function enabled(level: Level): boolean {
  return RANK[level] <= maxRank;
}

function stamp(): string {
  return new Date().toISOString();
}

/**
 * Writes one log line with optional structured fields. `jsonNames` renames
 * fields in the JSON format only (`up` → `bytes_up`): text lines keep their
 * short names, which operators grep for, and JSON gets names that log
 * pipelines understand without a lookup table.
 */
export function log(
  level: Level,
  msg: string,
  fields: Record<string, unknown> = {},
  jsonNames?: Readonly<Record<string, string>>,
): void {
  if (RANK[level] > maxRank) return;
  // One spread per line, and a line's own fields come after the context's.
  if (context) fields = { ...context, ...fields };
  let line: string;
  let body: string;
  if (format === "json") {
    const named = jsonNames
      ? Object.fromEntries(Object.entries(fields).map(([k, v]) => [jsonNames[k] ?? k, v]))
      : fields;
    line = body = JSON.stringify({ time: stamp(), level, msg, ...named });
  } else {
    const extra = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === "string" && !/\s/.test(v) ? v : JSON.stringify(v)}`)
      .join(" ");
    body = `${msg}${extra ? " " + extra : ""}`;
    line = `${stamp()} ${level.toUpperCase().padEnd(5)} ${body}`;
  }
  for (const s of extraSinks) s(body, level);
  for (const l of listeners) {
    try {
      l(level, msg, fields);
    } catch { /* a listener's failure must not stop logging */ }
  }
  if (sink) return sink(line);
  pending.push(line);
  if (RANK[level] <= RANK.warn) flushLog();
  else if (flushTimer === undefined) flushTimer = setTimeout(flushLog, 0);
}

const extraSinks = new Set<(text: string, level: Level) => void>();

/**
 * Adds a destination that gets every written message with its level, without
 * the timestamp and level prefix of text lines (syslog adds its own); in
 * JSON format it gets the JSON line. Returns a function that removes it.
 */
export function addLogSink(fn: (text: string, level: Level) => void): () => void {
  extraSinks.add(fn);
  return () => extraSinks.delete(fn);
}

/** A structured log destination: every written line's level, message and fields. */
export type LogListener = (level: Level, msg: string, fields: Record<string, unknown>) => void;

const listeners = new Set<LogListener>();

/**
 * Adds a structured destination (a program that embeds vncws, src/app/hooks.ts):
 * it gets each written line's level, message and fields (short names, as in
 * text lines). Returns a function that removes it.
 */
export function addLogListener(fn: LogListener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Error line. */
export const logError = (msg: string, f?: Record<string, unknown>): void => log("error", msg, f);
/** Warning line. */
export const logWarn = (msg: string, f?: Record<string, unknown>): void => log("warn", msg, f);
/** Info line. */
export const logInfo = (msg: string, f?: Record<string, unknown>): void => log("info", msg, f);
/** Debug line (`-v`). */
export const logDebug = (msg: string, f?: Record<string, unknown>): void => log("debug", msg, f);
