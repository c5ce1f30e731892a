/**
 * A description of the machine and tool versions for the results file.
 * @module
 */

import { run } from "./process.ts";

async function firstLine(cmd: string, args: string[]): Promise<string> {
  try {
    const { output } = await run(cmd, cmd, args, { timeoutMs: 10_000 });
    return output.trim().split("\n")[0] ?? "";
  } catch {
    return "not installed";
  }
}

/** `nproc`, CPU model, memory, kernel and load average at start. */
export async function describeMachine(): Promise<string> {
  const nproc = await firstLine("nproc", []);
  const cpuinfo = Deno.readTextFileSync("/proc/cpuinfo");
  const model = cpuinfo.match(/^model name\s*:\s*(.*)$/m)?.[1] ?? "unknown CPU";
  const memKb = Number(Deno.readTextFileSync("/proc/meminfo").match(/^MemTotal:\s+(\d+)/m)?.[1]);
  const load = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  return `${nproc} CPUs (nproc), ${model}, ${Math.round(memKb / 1024 / 1024)} GiB RAM, ` +
    `Linux ${Deno.osRelease()}, load average at start ${load}`;
}

/** `deno --version` on one line. */
export async function denoVersion(): Promise<string> {
  const { output } = await run("deno", Deno.execPath(), ["--version"], { timeoutMs: 10_000 });
  return output.trim().split("\n").join(", ");
}

/** Versions of the compared programs. */
export async function peerVersions(): Promise<string> {
  const socat = await run("socat", "socat", ["-V"], { timeoutMs: 10_000 })
    .then(({ output }) => output.match(/socat version (\S+)/)?.[1] ?? "?")
    .catch(() => "not installed");
  const websockify = await run("dpkg-query", "dpkg-query", [
    "-W",
    "-f=${Version}",
    "websockify",
  ], { timeoutMs: 10_000 }).then(({ output }) => output.trim()).catch(() => "?");
  const numpy = await run("python3-numpy", "/usr/bin/python3", [
    "-c",
    "import numpy; print(numpy.__version__)",
  ], { timeoutMs: 10_000 }).then(({ code, output }) => code === 0 ? output.trim() : "missing")
    .catch(() => "missing");
  return `socat ${socat}, websockify ${websockify} (Debian, numpy ${numpy}), ` +
    `vncws from this checkout`;
}
