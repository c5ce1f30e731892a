/**
 * `deno task build`: compiles the wrap-mode rebind shim (src/wrap/rebind.c)
 * into `.out/rebind.so`, which `deno compile --include .out/rebind.so` embeds
 * and a checkout uses directly.
 * @module
 */
import { compileShim, PREBUILT_SHIM } from "../src/wrap/shim.ts";

if (import.meta.main) {
  try {
    await compileShim(PREBUILT_SHIM);
    console.log(`built ${PREBUILT_SHIM}`);
  } catch (e) {
    console.error(`build failed: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
