import assert from "node:assert/strict";
import { UnixDomainSocketDirectory } from "../../src/route/token_unix_dir.ts";

Deno.test("UnixDomainSocketDirectory: sockets inside only; ../ and symlink escapes refused", async () => {
  const base = await Deno.realPath(await Deno.makeTempDir());
  const dir = `${base}/socks`;
  await Deno.mkdir(dir);
  const listeners: Deno.Listener[] = [];
  try {
    listeners.push(Deno.listen({ transport: "unix", path: `${dir}/desk1.sock` }));
    listeners.push(Deno.listen({ transport: "unix", path: `${base}/x.sock` }));
    await Deno.writeTextFile(`${dir}/plain-file`, "not a socket");
    await Deno.symlink(`${base}/x.sock`, `${dir}/escape.sock`);
    await Deno.symlink(`${dir}/desk1.sock`, `${dir}/alias.sock`);
    const r = new UnixDomainSocketDirectory(dir);
    assert.deepEqual(await r.lookup("desk1.sock"), { kind: "unix", path: `${dir}/desk1.sock` });
    // websockify resolves this one to the outside socket.
    assert.equal(await r.lookup("../x.sock"), null);
    assert.equal(await r.lookup(`../socks/../x.sock`), null);
    assert.equal(await r.lookup(`${base}/x.sock`), null);
    assert.equal(await r.lookup("escape.sock"), null, "symlink pointing outside");
    assert.deepEqual(await r.lookup("alias.sock"), { kind: "unix", path: `${dir}/desk1.sock` });
    assert.equal(await r.lookup("plain-file"), null);
    assert.equal(await r.lookup("missing.sock"), null);
    assert.equal(await r.lookup(".."), null);
    assert.equal(await r.lookup("."), null);
    assert.equal(await r.lookup(""), null);

    // The directory given through a symlink works and keeps the same rule.
    await Deno.symlink(dir, `${base}/link`);
    const viaLink = new UnixDomainSocketDirectory(`${base}/link`);
    assert.deepEqual(await viaLink.lookup("desk1.sock"), {
      kind: "unix",
      path: `${dir}/desk1.sock`,
    });
    assert.equal(await viaLink.lookup("escape.sock"), null);

    // A sibling whose name starts with the directory's name is outside too.
    await Deno.mkdir(`${base}/socks-evil`);
    listeners.push(Deno.listen({ transport: "unix", path: `${base}/socks-evil/e.sock` }));
    await Deno.symlink(`${base}/socks-evil/e.sock`, `${dir}/prefix.sock`);
    assert.equal(await r.lookup("prefix.sock"), null);
  } finally {
    for (const l of listeners) l.close();
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("UnixDomainSocketDirectory source must be a directory", () => {
  assert.throws(() => new UnixDomainSocketDirectory("/nonexistent/vncws"), /unreadable/);
});
