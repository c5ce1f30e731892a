/**
 * Shared test helpers: free ports, external tools, processes stopped by PID.
 * @module
 */
import { concatBytes } from "../../src/base/bytes.ts";
import { addLogSink } from "../../src/base/log.ts";

export { concatBytes };

/** True when running under CI (`CI=true`): a missing dependency must fail, not skip. */
export const IN_CI = Deno.env.get("CI") === "true";

const found = new Map<string, boolean>();

/** Whether an executable is on PATH (or is an absolute path that exists). */
export function hasCommand(bin: string): boolean {
  if (found.has(bin)) return found.get(bin)!;
  let ok = false;
  if (bin.startsWith("/")) {
    try {
      ok = Deno.statSync(bin).isFile;
    } catch { /* missing */ }
  } else {
    for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
      try {
        if (Deno.statSync(`${dir}/${bin}`).isFile) {
          ok = true;
          break;
        }
      } catch { /* not here */ }
    }
  }
  found.set(bin, ok);
  return ok;
}

/**
 * For `Deno.test({ ignore: skipUnless(...) })`: returns true (skip) when a tool is
 * missing outside CI and prints how to install it; in CI returns false so the
 * test runs and fails loudly.
 */
export function skipUnless(bins: string | string[], install: string): boolean {
  return skipIfMissing([bins].flat().filter((b) => !hasCommand(b)), install);
}

/** Skip (true) when something is missing, outside CI only; says what and how to install it. */
function skipIfMissing(missing: string[], install: string): boolean {
  if (missing.length === 0 || IN_CI) return false;
  console.error(`skipped: ${missing.join(", ")} not installed (install: ${install})`);
  return true;
}

/** Debian's python, which the tests run (python3 on PATH may be a pyenv build). */
export const PYTHON = "/usr/bin/python3";

const importable = new Map<string, boolean>();

/** Whether {@linkcode PYTHON} can import `module` (e.g. `websocket`, `websockets`). */
export function hasPythonModule(module: string): boolean {
  if (!importable.has(module)) {
    let ok = false;
    if (hasCommand(PYTHON)) {
      try {
        ok = new Deno.Command(PYTHON, {
          args: ["-c", `import ${module}`],
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).outputSync().success;
      } catch { /* cannot run it: not importable */ }
    }
    importable.set(module, ok);
  }
  return importable.get(module)!;
}

/**
 * {@linkcode skipUnless} for python modules: skip (and print `install`) when
 * {@linkcode PYTHON} is missing or cannot import one of `modules`, outside CI;
 * in CI the test runs and fails loudly.
 */
export function skipUnlessPython(modules: string | string[], install: string): boolean {
  if (!hasCommand(PYTHON)) return skipIfMissing([PYTHON], install);
  const missing = [modules].flat().filter((m) => !hasPythonModule(m));
  return skipIfMissing(missing.map((m) => `python module ${m}`), install);
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(hostname = "127.0.0.1"): number {
  const l = Deno.listen({ hostname, port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A temporary directory that `using` removes with everything in it. */
export interface TempDir {
  /** The directory's absolute path. */
  path: string;
  /** Removes the directory and everything in it. */
  [Symbol.dispose](): void;
}

/** Makes a temporary directory, for `using dir = tempDir()`. */
export function tempDir(): TempDir {
  const path = Deno.makeTempDirSync();
  return {
    path,
    [Symbol.dispose]() {
      Deno.removeSync(path, { recursive: true });
    },
  };
}

/** A started process and its captured output. */
export interface Proc {
  /** Its process id: what it is stopped by. */
  pid: number;
  /** The child process itself. */
  child: Deno.ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves when `pattern` appears in the output (or rejects after `timeoutMs`). */
  waitFor(pattern: string | RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM (then SIGKILL after a grace period) by PID; resolves with the status. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
  /** Resolves with its exit status once it has exited and its output is read. */
  status: Promise<Deno.CommandStatus>;
}

/** Starts a process with piped output that tests can watch. */
export function startProcess(
  cmd: string,
  args: string[],
  options: {
    env?: Record<string, string>;
    cwd?: string;
    detached?: boolean;
    /** "piped" to write to the process (`child.stdin`); default "null". */
    stdin?: "piped" | "null";
  } = {},
): Proc {
  const child = new Deno.Command(cmd, {
    args,
    env: options.env,
    cwd: options.cwd,
    stdin: options.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
    detached: options.detached ?? false,
  }).spawn();
  let text = "";
  const waiters: Array<() => void> = [];
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of s) {
      text += dec.decode(chunk, { stream: true });
      for (const w of waiters.splice(0)) w();
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = child.status.then(async (s) => {
    await pumps.catch(() => {});
    for (const w of waiters.splice(0)) w();
    return s;
  });
  let exited = false;
  status.then(() => exited = true);
  return {
    pid: child.pid,
    child,
    status,
    output: () => text,
    async waitFor(pattern, timeoutMs = 15000) {
      const deadline = Date.now() + timeoutMs;
      const test = () => typeof pattern === "string" ? text.includes(pattern) : pattern.test(text);
      while (!test()) {
        if (exited) throw new Error(`process ${cmd} exited before ${pattern}; output:\n${text}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timeout waiting for ${pattern}; output:\n${text}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, 200));
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      return text;
    },
    async stop(signal: Deno.Signal = "SIGTERM") {
      if (!exited) {
        try {
          Deno.kill(child.pid, signal);
        } catch { /* gone */ }
        const t = setTimeout(() => {
          try {
            Deno.kill(child.pid, "SIGKILL");
          } catch { /* gone */ }
        }, 5000);
        const s = await status;
        clearTimeout(t);
        return s;
      }
      return await status;
    },
  };
}

/** Connects to a TCP port, retrying until it accepts or `timeoutMs` passes. */
export async function connectRetry(
  port: number,
  hostname = "127.0.0.1",
  timeoutMs = 10000,
): Promise<Deno.TcpConn> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await Deno.connect({ hostname, port });
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Reads exactly `n` bytes (or throws at EOF). */
export async function readExactly(
  conn: { read(b: Uint8Array): Promise<number | null> },
  n: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const r = await conn.read(out.subarray(off));
    if (r === null) throw new Error(`EOF after ${off} of ${n} bytes`);
    off += r;
  }
  return out;
}

/** Reads until EOF (or a read error, e.g. a reset); returns the bytes. */
export async function readToEof(
  conn: { read(b: Uint8Array): Promise<number | null> },
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  for (;;) {
    let n: number | null;
    try {
      n = await conn.read(buf);
    } catch {
      break;
    }
    if (n === null) break;
    parts.push(buf.slice(0, n));
  }
  return concatBytes(parts);
}

/** Writes all of `data` (a conn's write may take part of it). */
export async function writeAll(
  conn: { write(b: Uint8Array): Promise<number> },
  data: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

/** Path of the repo's main.ts, for starting vncws as a real process. */
export const MAIN: string = new URL("../../main.ts", import.meta.url).pathname;

/** Starts vncws (`deno run -A main.ts ARGS`) and waits until it logs that it listens. */
export async function startVncws(
  args: string[],
  options: { env?: Record<string, string>; ready?: string | RegExp } = {},
): Promise<Proc> {
  const p = startProcess(Deno.execPath(), ["run", "-A", MAIN, ...args], { env: options.env });
  await p.waitFor(options.ready ?? "listening on", 20000);
  return p;
}

/** Options for {@linkcode startXtigervnc}. */
export interface XtigervncOptions {
  /** `-geometry` (default `320x240`). */
  geometry?: string;
  /** `-depth` (default: Xtigervnc's). */
  depth?: number;
  /** VNC password file (`-rfbauth`, security type VncAuth); default: security type None. */
  passwordFile?: string;
  /** Security arguments instead (e.g. `-SecurityTypes X509Vnc -X509Cert …`). */
  security?: string[];
  /** The X display number (default: Xtigervnc picks a free one). */
  display?: number;
}

/** A running Xtigervnc. */
export interface Xtigervnc {
  /** The Xtigervnc process. */
  proc: Proc;
  /** The X display number it chose. */
  display: number;
  /** Its RFB port on 127.0.0.1. */
  rfbPort: number;
  /** Stops it by PID and removes its X lock and socket files if it left them. */
  stop(): Promise<void>;
}

/**
 * Starts Xtigervnc on a free display (it picks one itself: `-displayfd`),
 * RFB on a free port of 127.0.0.1 only, and waits until it accepts VNC
 * connections.
 */
export async function startXtigervnc(options: XtigervncOptions = {}): Promise<Xtigervnc> {
  const rfbPort = freePort();
  const security = options.security ??
    (options.passwordFile
      ? ["-SecurityTypes", "VncAuth", "-rfbauth", options.passwordFile]
      : ["-SecurityTypes", "None"]);
  const proc = startProcess("Xtigervnc", [
    ...(options.display === undefined ? ["-displayfd", "1"] : [`:${options.display}`]),
    "-rfbport",
    String(rfbPort),
    "-localhost",
    ...security,
    "-geometry",
    options.geometry ?? "320x240",
    ...(options.depth ? ["-depth", String(options.depth)] : []),
    "-noreset",
    "-nolisten",
    "tcp",
  ]);
  let display = options.display ?? -1;
  const stop = async () => {
    // Only a lock this Xtigervnc wrote: a display in use is another server's.
    let ours = false;
    try {
      ours = Number(Deno.readTextFileSync(`/tmp/.X${display}-lock`).trim()) === proc.pid;
    } catch { /* no lock */ }
    await proc.stop();
    if (display < 0 || !ours) return;
    for (const f of [`/tmp/.X${display}-lock`, `/tmp/.X11-unix/X${display}`]) {
      try {
        Deno.removeSync(f);
      } catch { /* removed by Xtigervnc */ }
    }
  };
  try {
    if (options.display === undefined) {
      display = Number(/^(\d+)\n/m.exec(await proc.waitFor(/^\d+\n/m, 20000))![1]);
    }
    await proc.waitFor(/Listening for VNC connections/, 20000);
  } catch (e) {
    await stop();
    throw e;
  }
  return { proc, display, rfbPort, stop };
}

/**
 * Writes a VNC password file (`-rfbauth`) for `password` with
 * `tigervncpasswd -f` (VncAuth uses the first 8 characters).
 */
export async function writeVncPasswordFile(path: string, password: string): Promise<void> {
  const passwd = new Deno.Command("tigervncpasswd", {
    args: ["-f"],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const w = passwd.stdin.getWriter();
  await w.write(new TextEncoder().encode(password + "\n"));
  await w.close();
  const out = await passwd.output();
  if (!out.success) throw new Error("tigervncpasswd -f failed");
  await Deno.writeFile(path, out.stdout, { mode: 0o600 });
}

/** The warnings vncws logs while `fn` runs (its modules, in this process). */
export async function captureWarnings(fn: () => unknown): Promise<string[]> {
  const seen: string[] = [];
  const remove = addLogSink((text, level) => level === "warn" && seen.push(text));
  try {
    await fn();
  } finally {
    remove();
  }
  return seen;
}

/** `read()`'s first defined answer, polled every `intervalMs`; throws naming `what` after `timeoutMs`. */
export async function until<T>(
  read: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs = 15_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Resolves once `check()` holds, polled every `intervalMs`; throws naming `what` after `timeoutMs`. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
  intervalMs = 100,
): Promise<void> {
  await until(async () => (await check()) || undefined, what, timeoutMs, intervalMs);
}
