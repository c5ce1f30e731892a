import assert from "node:assert/strict";
import { createTokenResolver, TOKEN_PLUGIN_NAMES, tokenHash } from "../../src/route/token.ts";
import { TokenBackendError } from "../../src/route/resolver.ts";
import { TokenFile } from "../../src/route/token_file.ts";

Deno.test("createTokenResolver maps websockify names, dotted names and refuses unknown ones", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/tokens`, "a: 127.0.0.1:5901\n");
    for (const name of ["TokenFile", "websockify.token_plugins.TokenFile", "ReadOnlyTokenFile"]) {
      const r = await createTokenResolver(name, { source: `${dir}/tokens` });
      assert.ok(r instanceof TokenFile, name);
      assert.deepEqual(await r.lookup("a"), { kind: "tcp", hostname: "127.0.0.1", port: 5901 });
    }
    assert.equal(
      ((await createTokenResolver("ReadOnlyTokenFile", { source: `${dir}/tokens` })) as TokenFile)
        .reload,
      false,
    );
    await assert.rejects(() => createTokenResolver("NoSuchPlugin", { source: "x" }), (e: Error) => {
      for (const n of TOKEN_PLUGIN_NAMES) assert.ok(e.message.includes(n), n);
      return true;
    });
    await assert.rejects(
      () => createTokenResolver("mypkg.plugins.Thing", { source: "x" }),
      /Python/,
    );
    await assert.rejects(() => createTokenResolver("TokenFile", {}), /needs --token-source/);
    await assert.rejects(
      () => createTokenResolver("toString", { source: "x" }),
      /unknown token plugin/,
    );
    await assert.rejects(
      () => createTokenResolver("TokenFileName", { source: `${dir}/tokens` }),
      /directory/,
    );
    await assert.rejects(
      () => createTokenResolver("BaseTokenAPI", { source: "ftp://x/%s" }),
      /http/,
    );
    await assert.rejects(
      () => createTokenResolver("TokenRedis", { source: "h:notaport" }),
      /host\[:port/,
    );
    assert.equal(TOKEN_PLUGIN_NAMES.length, 8);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("user token module: string, object and null results; errors become 503s", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/my_tokens.ts`,
      `import { relative } from "node:path";
let closed = 0;
export async function lookup(token: string, context: { source?: string; tokenHash(t: string): string }) {
  if (token === "text") return "[::1]:5901";
  if (token === "object") return { kind: "tcp", hostname: "10.0.0.7", port: 5900 };
  if (token === "unix") return { kind: "unix", path: "/run/v.sock" };
  if (token === "source") return context.source ?? null;
  if (token === "hash") return "h:" + (context.tokenHash(token).length + relative("/a", "/a/b").length);
  if (token === "bad") return { port: "x" };
  if (token === "throw") throw new Error("backend down");
  if (token === "closed") return "h:" + (1000 + closed);
  return null;
}
export function close() { closed++; }
`,
    );
    const r = await createTokenResolver(`${dir}/my_tokens.ts`, { source: "127.0.0.1:6000" });
    assert.deepEqual(await r.lookup("text"), { kind: "tcp", hostname: "::1", port: 5901 });
    assert.deepEqual(await r.lookup("object"), {
      kind: "tcp",
      hostname: "10.0.0.7",
      port: 5900,
      tls: false,
    });
    assert.deepEqual(await r.lookup("unix"), { kind: "unix", path: "/run/v.sock" });
    assert.deepEqual(await r.lookup("source"), { kind: "tcp", hostname: "127.0.0.1", port: 6000 });
    assert.deepEqual(await r.lookup("hash"), { kind: "tcp", hostname: "h", port: 13 });
    assert.equal(await r.lookup("nobody"), null);
    await assert.rejects(() => r.lookup("bad"), TokenBackendError);
    await assert.rejects(
      () => r.lookup("throw"),
      (e: Error) => e instanceof TokenBackendError && /backend down/.test(e.message),
    );
    await r.close?.();
    assert.deepEqual(await r.lookup("closed"), { kind: "tcp", hostname: "h", port: 1001 });

    await Deno.writeTextFile(`${dir}/empty.mjs`, "export const x = 1;\n");
    await assert.rejects(() => createTokenResolver(`${dir}/empty.mjs`), /must export "lookup/);
    await assert.rejects(() => createTokenResolver(`${dir}/missing.js`), /could not be loaded/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tokenHash is a short stable hex digest, not the token", () => {
  assert.match(tokenHash("secret-token"), /^[0-9a-f]{12}$/);
  assert.equal(tokenHash("a"), tokenHash("a"));
  assert.notEqual(tokenHash("a"), tokenHash("b"));
  assert.ok(!tokenHash("abc").includes("abc"));
});

Deno.test("user token module: { target, ...settings } answers; a bad field is a 503 without values", async () => {
  const dir = await Deno.makeTempDir();
  const secret = "module-Secret-3";
  try {
    await Deno.writeTextFile(
      `${dir}/settings.ts`,
      `export function lookup(token: string) {
  if (token === "full") {
    return { target: "127.0.0.1:5901", password: "${secret}", "view_only": true, max_duration: 60 };
  }
  if (token === "object") return { target: { kind: "unix", path: "/run/v.sock" } };
  if (token === "plain") return "127.0.0.1:5902";
  if (token === "extra") return { target: "127.0.0.1:5903", password: "${secret}", note: "x" };
  if (token === "badval") return { target: "127.0.0.1:5904", password: "${secret}", clipboard: "all" };
  if (token === "notarget") return { host: "h", password: "${secret}" };
  return null;
}
`,
    );
    const r = await createTokenResolver(`${dir}/settings.ts`);
    assert.deepEqual(await r.lookupDetail!("full"), {
      target: { kind: "tcp", hostname: "127.0.0.1", port: 5901 },
      settings: { password: secret, viewOnly: true, maxDuration: 60 },
    });
    assert.deepEqual(await r.lookup("full"), { kind: "tcp", hostname: "127.0.0.1", port: 5901 });
    assert.deepEqual(await r.lookupDetail!("object"), {
      target: { kind: "unix", path: "/run/v.sock" },
    });
    assert.deepEqual(await r.lookupDetail!("plain"), {
      target: { kind: "tcp", hostname: "127.0.0.1", port: 5902 },
    });
    assert.equal(await r.lookupDetail!("nobody"), null);
    // Strict: an unknown field, a bad value or a missing target is a backend error (503).
    for (
      const [token, why] of [
        ["extra", /unknown setting "note"/],
        ["badval", /clipboard must be one of/],
        ["notarget", /an object with fields host, password/],
      ] as const
    ) {
      await assert.rejects(
        () => r.lookupDetail!(token),
        (e: Error) =>
          e instanceof TokenBackendError && why.test(e.message) && !e.message.includes(secret),
        token,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("user token module: a string target with a password in it fails without repeating it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/text.ts`,
      `export function lookup(token: string) {
  if (token === "spaced") return "127.0.0.1:5900 password=hunter2";
  if (token === "glued") return "127.0.0.1:5900password=hunter2";
  if (token === "inner") return { target: "password=hunter2 127.0.0.1:5900" };
  return "127.0.0.1:5901";
}
`,
    );
    const r = await createTokenResolver(`${dir}/text.ts`);
    assert.deepEqual(await r.lookup("good"), { kind: "tcp", hostname: "127.0.0.1", port: 5901 });
    for (const token of ["spaced", "glued", "inner"]) {
      await assert.rejects(
        () => r.lookup(token),
        (e: Error) =>
          e instanceof TokenBackendError && /token target/.test(e.message) &&
          !e.message.includes("hunter2"),
        token,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
