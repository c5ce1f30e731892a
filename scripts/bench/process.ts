/**
 * Processes the bench starts: output kept (a bounded tail), stopped by PID
 * together with every descendant, and all stopped on exit, error or SIGINT.
 * @module
 */

import { processTree } from "./proc_stat.ts";

const TAIL = 64 * 1024;
const live = new Set<Spawned>();
let stopping = false;

/** Options for {@linkcode spawn}. */
export interface SpawnOptions {
  /** Keep stdin open as a pipe (the idle client waits for a line on it). */
  stdin?: boolean;
  env?: Record<string, string>;
  cwd?: string;
}

/** A started process; its output is collected until it exits. */
export class Spawned {
  readonly name: string;
  readonly child: Deno.ChildProcess;
  readonly pid: number;
  readonly status: Promise<Deno.CommandStatus>;
  #out = "";
  #waiters: Array<() => void> = [];
  #exited = false;
  #drained: Promise<void>;

  constructor(name: string, child: Deno.ChildProcess) {
    this.name = name;
    this.child = child;
    this.pid = child.pid;
    this.#drained = Promise.all([this.#pump(child.stdout), this.#pump(child.stderr)])
      .then(() => {});
    this.status = child.status.then(async (s) => {
      await this.#drained.catch(() => {});
      this.#exited = true;
      live.delete(this);
      this.#wake();
      return s;
    });
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      this.#out += dec.decode(chunk, { stream: true });
      if (this.#out.length > 2 * TAIL) this.#out = this.#out.slice(-TAIL);
      this.#wake();
    }
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Output so far (stdout and stderr interleaved; only the last 64 KiB or so). */
  output(): string {
    return this.#out;
  }

  /** Whether the process has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  /** Resolves once `test` holds for the output; rejects on exit or timeout. */
  async waitFor(test: (out: string) => boolean, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!test(this.#out)) {
      if (this.#exited) {
        throw new Error(`${this.name} exited early; output: ${this.#out.slice(-2000).trim()}`);
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Error(
          `${this.name}: nothing expected after ${timeoutMs} ms; output: ${
            this.#out.slice(-2000).trim()
          }`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Writes text to stdin (only with `stdin: true`). */
  async write(text: string): Promise<void> {
    const w = this.child.stdin.getWriter();
    try {
      await w.write(new TextEncoder().encode(text));
    } finally {
      w.releaseLock();
    }
  }

  /**
   * Stops the process and its descendants by PID: SIGTERM, then SIGKILL for
   * whatever is left after `graceMs`.
   */
  async stop(graceMs = 3000): Promise<void> {
    if (this.#exited) return;
    const tree = processTree(this.pid);
    for (const pid of tree) signal(pid, "SIGTERM");
    const timer = setTimeout(() => {
      for (const pid of [...processTree(this.pid), ...tree]) signal(pid, "SIGKILL");
    }, graceMs);
    try {
      await this.status;
    } finally {
      clearTimeout(timer);
    }
    // forked children that outlived their parent
    for (const pid of tree.slice(1)) signal(pid, "SIGKILL");
  }
}

function signal(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch { /* already gone */ }
}

/** Starts `cmd args`, with output piped and collected. */
export function spawn(name: string, cmd: string, args: string[], options: SpawnOptions = {}) {
  // a workload still running while SIGINT stops everything must not start orphans
  if (stopping) throw new Error(`not starting ${name}: the bench is stopping`);
  const child = new Deno.Command(cmd, {
    args,
    env: options.env,
    cwd: options.cwd,
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const p = new Spawned(name, child);
  live.add(p);
  return p;
}

/**
 * Stops every process started through {@linkcode spawn} that is still running;
 * no process starts afterwards.
 */
export async function stopAll(): Promise<void> {
  stopping = true;
  while (live.size > 0) await Promise.all([...live].map((p) => p.stop(1000)));
}

/** Runs a process to completion (killed after `timeoutMs`); resolves its output. */
export async function run(
  name: string,
  cmd: string,
  args: string[],
  options: { timeoutMs: number; env?: Record<string, string> },
): Promise<{ code: number; output: string }> {
  const p = spawn(name, cmd, args, { env: options.env });
  const timer = setTimeout(() => p.stop(500), options.timeoutMs);
  try {
    const s = await p.status;
    const output = p.output();
    if (s.signal) {
      throw new Error(
        `${name} killed after ${options.timeoutMs} ms; output: ${output.slice(-500)}`,
      );
    }
    return { code: s.code, output };
  } finally {
    clearTimeout(timer);
  }
}
