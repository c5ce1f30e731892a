/**
 * Finding or building the shim: a stale or missing build is compiled, the
 * copy lands in the private directory, and with neither a compiler nor a
 * prebuilt shim the error names the fixes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { skipUnless } from "../../scripts/testing/util.ts";
import { installShim, SHIM_SOURCE, ShimUnavailableError } from "../../src/wrap/shim.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vncws-shim-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("shim: no compiler and no prebuilt shim → error naming gcc and --wrap-port-arg", () =>
  withDir(async (dir) => {
    const err = await installShim(dir, {
      prebuilt: join(dir, "missing.so"),
      compiler: null,
    }).then(() => undefined, (e) => e);
    assert.ok(err instanceof ShimUnavailableError, String(err));
    assert.match(err.message, /apt-get install gcc/);
    assert.match(err.message, /deno task build/);
    assert.match(err.message, /--wrap-port-arg=arg/);
  }));

Deno.test({
  name: "shim: a missing build is compiled from source and copied into the private directory",
  ignore: skipUnless("cc", "apt-get install gcc"),
  fn: () =>
    withDir(async (dir) => {
      const prebuilt = join(dir, "out", "rebind.so");
      const priv = join(dir, "private");
      await Deno.mkdir(priv, { mode: 0o700 });
      const path = await installShim(priv, { prebuilt, source: SHIM_SOURCE });
      assert.equal(path, join(priv, "rebind.so"));
      assert.ok(Deno.statSync(prebuilt).isFile, "the build was not cached");
      const elf = (await Deno.readFile(path)).subarray(0, 4);
      assert.deepEqual([...elf], [0x7f, 0x45, 0x4c, 0x46]);
      assert.equal(Deno.statSync(priv).mode! & 0o777, 0o700);
    }),
});

Deno.test("shim: a prebuilt (embedded) shim is used without a compiler", () =>
  withDir(async (dir) => {
    const prebuilt = join(dir, "embedded.so");
    await Deno.writeTextFile(prebuilt, "not really an ELF file");
    await Deno.mkdir(join(dir, "p"), { mode: 0o700 });
    const path = await installShim(join(dir, "p"), {
      prebuilt,
      source: join(dir, "no-source.c"),
      compiler: null,
    });
    assert.equal(await Deno.readTextFile(path), "not really an ELF file");
  }));
