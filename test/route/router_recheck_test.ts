/**
 * Route.recheck: a token route looks its token up again through the token
 * plugin (false once it is removed, a rejection when the backend is gone),
 * a fixed-target route has none, and `recheckWith` sends rechecks through
 * another router (the one a reload put in place).
 */
import assert from "node:assert/strict";
import { parseRequestHead, type RequestHead } from "../../src/http/head.ts";
import { isRefusal } from "../../src/auth/refusal.ts";
import { createRouter } from "../../src/route/router.ts";

function head(target: string): RequestHead {
  const text = `GET ${target} HTTP/1.1\r\nHost: vncws.test\r\n\r\n`;
  return parseRequestHead(new TextEncoder().encode(text), { maxHeadBytes: 16384, maxHeaders: 100 });
}
const peer = { peer: "127.0.0.1:40000" };

Deno.test("route.recheck: true while the token resolves, false once removed, rejects when the file is gone", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/tokens`;
    await Deno.writeTextFile(file, "a: 127.0.0.1:5901\nb: 127.0.0.1:5902\n");
    const router = await createRouter({ tokenPlugin: "TokenFile", tokenSource: file });
    const ra = await router.route(head("/websockify?token=a"), peer);
    const rb = await router.route(head("/websockify?token=b"), peer);
    assert.ok(!isRefusal(ra) && !isRefusal(rb));
    assert.equal(ra.expiresAt, undefined, "a token file carries no expiry");
    assert.equal(await ra.recheck!(), true);
    await Deno.writeTextFile(file, "b: 127.0.0.1:5902\n# a removed\n");
    assert.equal(await ra.recheck!(), false);
    assert.equal(await rb.recheck!(), true);
    await Deno.remove(file);
    await assert.rejects(() => rb.recheck!());
    await router.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("route.recheck: none for a fixed target; recheckWith is used when given", async () => {
  const fixed = await createRouter({ target: { kind: "tcp", hostname: "127.0.0.1", port: 5901 } });
  const r = await fixed.route(head("/websockify"), peer);
  assert.ok(!isRefusal(r));
  assert.equal(r.recheck, undefined);

  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/tokens`, "a: 127.0.0.1:5901\n");
    const asked: string[] = [];
    const router = await createRouter({
      tokenPlugin: "TokenFile",
      tokenSource: `${dir}/tokens`,
      recheckWith: (token) => (asked.push(token), Promise.resolve(false)),
    });
    const ra = await router.route(head("/websockify?token=a"), peer);
    assert.ok(!isRefusal(ra));
    assert.equal(await ra.recheck!(), false);
    assert.deepEqual(asked, ["a"]);
    assert.equal(await router.recheck("a"), true, "the router's own lookup still finds it");
    await router.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
