import assert from "node:assert/strict";
import { TokenFileName } from "../../src/route/token_file_name.ts";

Deno.test("TokenFileName: file named by the token holds the target", async () => {
  const dir = await Deno.makeTempDir();
  const outside = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/desk1`, "127.0.0.1:5901\n");
    await Deno.writeTextFile(`${dir}/desk6`, "[::1]:5906");
    await Deno.writeTextFile(`${dir}/bare6`, "::1:5907");
    await Deno.writeTextFile(`${dir}/sock`, "unix_socket:/run/x.sock");
    await Deno.writeTextFile(`${dir}/garbage`, "not a target");
    await Deno.mkdir(`${dir}/subdir`);
    await Deno.writeTextFile(`${outside}/secret`, "127.0.0.1:22");
    const r = new TokenFileName(dir);
    assert.deepEqual(await r.lookup("desk1"), { kind: "tcp", hostname: "127.0.0.1", port: 5901 });
    assert.deepEqual(await r.lookup("desk6"), { kind: "tcp", hostname: "::1", port: 5906 });
    assert.deepEqual(await r.lookup("bare6"), { kind: "tcp", hostname: "::1", port: 5907 });
    assert.deepEqual(await r.lookup("sock"), { kind: "unix", path: "/run/x.sock" });
    assert.equal(await r.lookup("garbage"), null);
    assert.equal(await r.lookup("missing"), null);
    assert.equal(await r.lookup("subdir"), null);
    for (const bad of [".", "..", "", `../${outside.split("/").pop()}/secret`, "a/b", "x\0"]) {
      assert.equal(await r.lookup(bad), null, JSON.stringify(bad));
    }
    // Changes are visible at once.
    await Deno.writeTextFile(`${dir}/desk2`, "127.0.0.1:5902");
    assert.deepEqual(await r.lookup("desk2"), { kind: "tcp", hostname: "127.0.0.1", port: 5902 });
    await Deno.remove(`${dir}/desk1`);
    assert.equal(await r.lookup("desk1"), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("TokenFileName refuses a source that is not a directory", async () => {
  const file = await Deno.makeTempFile();
  try {
    assert.throws(() => new TokenFileName(file), /must be a directory/);
    assert.throws(() => new TokenFileName("/nonexistent/vncws"), /unreadable/);
  } finally {
    await Deno.remove(file);
  }
});
