/**
 * Builds the C load client and target with `cc -O2` into .out/bench/ (gitignored),
 * only when a source is newer than its binary.
 * @module
 */

import { run } from "./process.ts";

/** Paths of the built tools. */
export interface Tools {
  client: string;
  target: string;
}

const HERE = new URL(".", import.meta.url).pathname;
/** Repository root (scripts/bench/ is two levels down). */
export const ROOT = new URL("../../", import.meta.url).pathname;

function mtime(path: string): number {
  try {
    return Deno.statSync(path).mtime?.getTime() ?? 0;
  } catch {
    return 0;
  }
}

async function compile(src: string, out: string, libs: string[]): Promise<void> {
  if (mtime(out) >= mtime(src)) return;
  // build next to the destination, then rename: concurrent runs never see half a binary
  const tmp = `${out}.${Deno.pid}.tmp`;
  const { code, output } = await run("cc", "cc", ["-O2", "-Wall", "-o", tmp, src, ...libs], {
    timeoutMs: 120_000,
  });
  if (code !== 0) {
    throw new Error(
      `cc failed for ${src} (install a C compiler and libssl-dev): ${output.slice(-2000)}`,
    );
  }
  await Deno.rename(tmp, out);
}

/** Compiles the tools if needed; resolves their paths. */
export async function buildTools(): Promise<Tools> {
  const dir = `${ROOT}.out/bench`;
  await Deno.mkdir(dir, { recursive: true });
  const tools = { client: `${dir}/bench_client`, target: `${dir}/bench_target` };
  await compile(`${HERE}client.c`, tools.client, ["-lssl", "-lcrypto", "-lpthread"]);
  await compile(`${HERE}target.c`, tools.target, ["-lpthread"]);
  return tools;
}
