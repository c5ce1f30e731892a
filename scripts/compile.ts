/**
 * `deno task compile`: one self-contained `vncws` binary with the rebind shim
 * and the bundled viewer (our page and its built bundle, src/web/viewer/dist/,
 * plus noVNC's core/ and vendor/) embedded.
 *
 * `deno compile` needs a `denort` runtime. Deno downloads it; where that is
 * impossible, point `DENORT_BIN` at an unpacked denort of the same version.
 * Permissions are limited to what vncws uses: net (listen, connect), read
 * (web root, token files, certificates), write (pid file, logs, recordings,
 * the extracted shim), run (wrap mode), env (wrap, systemd) and sys (host name
 * for the printed URL), plus `--unstable-net` for unix datagram sockets
 * (syslog to /dev/log, sd_notify).
 * @module
 */
import { join } from "node:path";
import { PREBUILT_SHIM } from "../src/wrap/shim.ts";
import { locateAssets } from "../src/web/assets.ts";

const ROOT = join(import.meta.dirname!, "..");

/** The `deno compile` argv for `output`. */
export function compileArgs(output: string): string[] {
  const assets = locateAssets();
  return [
    "compile",
    "--allow-net",
    "--allow-read",
    "--allow-write",
    "--allow-run",
    "--allow-env",
    "--allow-sys",
    // Unix datagram sockets for syslog (/dev/log) and sd_notify without FFI.
    "--unstable-net",
    "--include",
    join(assets.viewerDir, "vnc.html"),
    "--include",
    assets.distDir,
    "--include",
    join(assets.novncDir, "core"),
    "--include",
    join(assets.novncDir, "vendor"),
    "--include",
    PREBUILT_SHIM,
    "--output",
    output,
    join(ROOT, "main.ts"),
  ];
}

async function run(cmd: string, args: string[]): Promise<void> {
  const st = await new Deno.Command(cmd, { args, stdout: "inherit", stderr: "inherit" }).spawn()
    .status;
  if (!st.success) throw new Error(`${cmd} ${args[0]} failed with exit code ${st.code}`);
}

if (import.meta.main) {
  const output = Deno.args[0] ?? join(ROOT, "vncws");
  try {
    // The shim must exist before it can be embedded.
    await run(Deno.execPath(), ["run", "-A", join(ROOT, "scripts", "build.ts")]);
    await run(Deno.execPath(), compileArgs(output));
    const size = Deno.statSync(output).size;
    console.log(`built ${output} (${(size / 1024 / 1024).toFixed(1)} MiB)`);
  } catch (e) {
    console.error(`compile failed: ${(e as Error).message}`);
    if (!Deno.env.get("DENORT_BIN")) {
      console.error(
        "deno compile downloads a denort runtime; without network access set DENORT_BIN " +
          "to an unpacked denort of the same Deno version",
      );
    }
    Deno.exit(1);
  }
}
