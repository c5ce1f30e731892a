/**
 * Finds or builds the rebind shim (rebind.so) and copies it into a private
 * directory for LD_PRELOAD.
 *
 * Where the shim comes from, in order:
 *  1. a checkout with a C compiler: `.out/rebind.so` is (re)built from
 *     `src/wrap/rebind.c` when missing or older than the source (the same
 *     command as `deno task build`);
 *  2. `.out/rebind.so` next to the sources, read through
 *     `import.meta.dirname`: a checkout after `deno task build`, or the copy
 *     that `deno compile --include .out/rebind.so` embeds;
 *  3. otherwise an error that names the fixes.
 * The dynamic loader cannot read `deno compile`'s in-memory files, so the
 * shim is always copied into the caller's 0700 directory before use.
 * Note: the directory must not be on a `noexec` mount (set TMPDIR elsewhere).
 * @module
 */
import { join } from "node:path";
import { isFile } from "../base/fs.ts";

const HERE = import.meta.dirname ?? new URL(".", import.meta.url).pathname;

/** The shim's C source in a checkout. */
export const SHIM_SOURCE: string = join(HERE, "rebind.c");

/** Where `deno task build` writes the shim, and where an embedded copy is read from. */
export const PREBUILT_SHIM: string = join(HERE, "..", "..", ".out", "rebind.so");

/** Raised when no shim can be had; the message says how to fix it. */
export class ShimUnavailableError extends Error {
  /** `detail` says what is missing; the message adds the fixes. */
  constructor(detail: string) {
    super(
      `wrap mode needs the rebind shim for LD_PRELOAD, but ${detail}. ` +
        "Fix: install a C compiler (apt-get install gcc) and run `deno task build`, " +
        "or use --wrap-port-arg=arg to pass the port to a known VNC server " +
        "(Xvnc, Xtigervnc, Xtightvnc, x11vnc, vncserver) on its command line instead",
    );
    this.name = "ShimUnavailableError";
  }
}

/** The C compiler to use: $CC, else the first of cc, gcc, clang on PATH; undefined if none. */
export function findCompiler(): string | undefined {
  const env = Deno.env.get("CC");
  const candidates = env ? [env] : ["cc", "gcc", "clang"];
  for (const name of candidates) {
    if (name.startsWith("/")) {
      if (isFile(name)) return name;
      continue;
    }
    for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
      if (dir && isFile(join(dir, name))) return join(dir, name);
    }
  }
  return undefined;
}

/** Options for {@linkcode compileShim}. */
export interface CompileOptions {
  /** C source (default {@linkcode SHIM_SOURCE}). */
  source?: string;
  /** Compiler (default {@linkcode findCompiler}). */
  compiler?: string;
}

/** Compiles the shim to `out` with `cc -shared -fPIC -O2 ... -ldl`; throws with the compiler's output. */
export async function compileShim(out: string, options: CompileOptions = {}): Promise<void> {
  const compiler = options.compiler ?? findCompiler();
  if (!compiler) throw new ShimUnavailableError("no C compiler (cc, gcc or clang) was found");
  const source = options.source ?? SHIM_SOURCE;
  await Deno.mkdir(join(out, ".."), { recursive: true });
  // Build beside the target and rename, so a concurrent reader never sees half a file.
  const tmp = `${out}.${Deno.pid}.tmp`;
  const result = await new Deno.Command(compiler, {
    args: ["-shared", "-fPIC", "-O2", "-Wall", "-o", tmp, source, "-ldl"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    await Deno.remove(tmp).catch(() => {});
    const text = new TextDecoder().decode(result.stderr).trim();
    throw new Error(`${compiler} failed to build ${source}: ${text}`);
  }
  await Deno.rename(tmp, out);
}

function mtime(path: string): number | undefined {
  try {
    return Deno.statSync(path).mtime?.getTime();
  } catch {
    return undefined;
  }
}

/** Options for {@linkcode installShim} (tests point them elsewhere). */
export interface InstallOptions {
  /** C source (default {@linkcode SHIM_SOURCE}). */
  source?: string;
  /** Prebuilt or embedded shim (default {@linkcode PREBUILT_SHIM}). */
  prebuilt?: string;
  /** Compiler; null = none (default {@linkcode findCompiler}). */
  compiler?: string | null;
}

/**
 * Puts a usable copy of the shim at `<dir>/rebind.so` and returns its path.
 * `dir` must be a private (0700) directory owned by this process.
 */
export async function installShim(dir: string, options: InstallOptions = {}): Promise<string> {
  const source = options.source ?? SHIM_SOURCE;
  const prebuilt = options.prebuilt ?? PREBUILT_SHIM;
  const dest = join(dir, "rebind.so");
  const sourceTime = mtime(source);
  const builtTime = mtime(prebuilt);
  const stale = sourceTime !== undefined && (builtTime === undefined || builtTime < sourceTime);
  let buildError = "";
  if (stale) {
    const compiler = options.compiler === undefined ? findCompiler() : options.compiler;
    if (compiler) {
      try {
        await compileShim(prebuilt, { compiler, source });
      } catch {
        // Read-only checkout: build straight into the private directory.
        try {
          await compileShim(dest, { compiler, source });
          return dest;
        } catch (e) {
          // A compiled binary cannot hand its embedded source to cc: use the embedded shim.
          buildError = ` (building it failed: ${(e as Error).message})`;
        }
      }
    }
  }
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(prebuilt);
  } catch {
    throw new ShimUnavailableError(
      buildError
        ? `no prebuilt shim exists at ${prebuilt}${buildError}`
        : `no prebuilt shim exists at ${prebuilt} and no C compiler (cc, gcc or clang) was found`,
    );
  }
  await Deno.writeFile(dest, bytes, { mode: 0o700 });
  return dest;
}
