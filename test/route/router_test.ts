import assert from "node:assert/strict";
import { parseRequestHead, type RequestHead } from "../../src/http/head.ts";
import type { Target } from "../../src/net/address.ts";
import { peerIp } from "../../src/auth/client.ts";
import { isRefusal, type Refusal } from "../../src/auth/refusal.ts";
import { createRouter, type Route } from "../../src/route/router.ts";
import { readExactly } from "../../scripts/testing/util.ts";

function head(target: string, headers: Record<string, string> = {}): RequestHead {
  let text = `GET ${target} HTTP/1.1\r\nHost: vncws.test\r\n`;
  for (const [k, v] of Object.entries(headers)) text += `${k}: ${v}\r\n`;
  return parseRequestHead(new TextEncoder().encode(text + "\r\n"), {
    maxHeadBytes: 16384,
    maxHeaders: 100,
  });
}

/** A TCP service that greets every client with its own RFB-like banner. */
function bannerServer(name: string) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const done = (async () => {
    for await (const conn of listener) {
      await conn.write(new TextEncoder().encode(`RFB 003.008 ${name}\n`)).catch(() => {});
      conn.close();
    }
  })().catch(() => {});
  return { port: (listener.addr as Deno.NetAddr).port, close: () => (listener.close(), done) };
}

async function banner(target: Target): Promise<string> {
  assert.equal(target.kind, "tcp");
  if (target.kind !== "tcp") throw new Error("tcp expected");
  const conn = await Deno.connect({ hostname: target.hostname, port: target.port });
  try {
    return new TextDecoder().decode(await readExactly(conn, 14));
  } finally {
    conn.close();
  }
}

const status = (r: Route | Refusal) => isRefusal(r) ? r.status : 0;
const kind = (r: Route | Refusal) => isRefusal(r) ? r.kind : "route";
const peer = { peer: "127.0.0.1:40000" };

Deno.test("router: each token reaches its own target (two real TCP services)", async () => {
  const a = bannerServer("AAA");
  const b = bannerServer("BBB");
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/tokens`,
      `desk-a: 127.0.0.1:${a.port}\ndesk-b: 127.0.0.1:${b.port}\n`,
    );
    const router = await createRouter({ tokenPlugin: "TokenFile", tokenSource: `${dir}/tokens` });
    assert.equal(router.rawAllowed, false);
    const ra = await router.route(head("/websockify?token=desk-a"), peer);
    const rb = await router.route(head("/websockify/desk-b"), peer);
    const rc = await router.route(head("/websockify", { Cookie: "token=desk-a" }), peer);
    assert.ok(!isRefusal(ra) && !isRefusal(rb) && !isRefusal(rc));
    assert.equal(await banner(ra.target), "RFB 003.008 AA");
    assert.equal(await banner(rb.target), "RFB 003.008 BB");
    assert.equal(await banner(rc.target), "RFB 003.008 AA");
    assert.match(ra.label!, /^[0-9a-f]{12}$/);
    assert.equal(ra.address, "127.0.0.1");
    // Refusals: missing token 403, unknown 404, malformed path 400.
    assert.equal(status(await router.route(head("/websockify"), peer)), 403);
    assert.equal(status(await router.route(head("/websockify?token=nope"), peer)), 404);
    assert.equal(kind(await router.route(head("/websockify?token=nope"), peer)), "unknown_token");
    assert.equal(status(await router.route(head("/websockify/%zz"), peer)), 400);
    // Backend gone: 503.
    await Deno.remove(`${dir}/tokens`);
    const gone = await router.route(head("/websockify?token=desk-a"), peer);
    assert.equal(status(gone), 503);
    // Each refusal says what happened: metrics and /readyz read the kind.
    assert.equal(kind(gone), "backend_down");
    assert.equal(kind(await router.route(head("/websockify"), peer)), "token_missing");
    assert.equal(kind(await router.route(head("/websockify/%zz"), peer)), "token_missing");
    await router.close();
  } finally {
    await a.close();
    await b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("router: auth before token lookup; every refusal's status", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/tokens`, "t: 127.0.0.1:5901\n");
    const router = await createRouter({
      tokenPlugin: "TokenFile",
      tokenSource: `${dir}/tokens`,
      authPlugin: "BasicHTTPAuth",
      authSource: "u:p",
      allowOrigin: ["https://ok.example"],
      denyIp: ["192.0.2.0/24"],
      trustedProxies: ["127.0.0.1"],
    });
    const good = { Origin: "https://ok.example", Authorization: `Basic ${btoa("u:p")}` };
    assert.equal(status(await router.route(head("/?token=t", good), peer)), 0);
    assert.equal(
      status(await router.route(head("/?token=nope", { Origin: "https://ok.example" }), peer)),
      401,
      "no token oracle before auth",
    );
    assert.equal(
      status(
        await router.route(head("/?token=t", { ...good, Origin: "https://evil.example" }), peer),
      ),
      403,
    );
    assert.equal(
      status(await router.route(head("/?token=t", { ...good, Authorization: "Basic %%%" }), peer)),
      400,
    );
    // Denied client behind the trusted proxy; a spoofed header from an untrusted peer changes nothing.
    assert.equal(
      status(
        await router.route(head("/?token=t", { ...good, "X-Forwarded-For": "192.0.2.9" }), peer),
      ),
      403,
    );
    assert.equal(status(await router.route(head("/?token=t", good), { peer: "192.0.2.9:1" })), 403);
    assert.equal(
      status(
        await router.route(head("/?token=t", { ...good, "X-Forwarded-For": "198.51.100.1" }), {
          peer: "192.0.2.9:1",
        }),
      ),
      403,
    );
    // The kinds of those refusals.
    assert.equal(
      kind(await router.route(head("/?token=t", { Origin: "https://ok.example" }), peer)),
      "auth_required",
    );
    assert.equal(
      kind(
        await router.route(head("/?token=t", { ...good, Origin: "https://evil.example" }), peer),
      ),
      "origin",
    );
    assert.equal(
      kind(await router.route(head("/?token=t", good), { peer: "192.0.2.9:1" })),
      "ip_denied",
    );
    // Plain HTTP: --web-auth applies the plugin (no Origin on navigation), else only address lists.
    assert.equal((await router.checkWeb(head("/vnc.html"), peer, true))?.status, 401);
    assert.equal(
      await router.checkWeb(head("/vnc.html", { Authorization: good.Authorization }), peer, true),
      null,
    );
    assert.equal(await router.checkWeb(head("/vnc.html"), peer, false), null);
    assert.equal(
      (await router.checkWeb(head("/vnc.html"), { peer: "192.0.2.1:5" }, false))?.status,
      403,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("router: limits under a burst; release frees the slot; raw clients", async () => {
  const state: { fixed?: Target } = {};
  const router = await createRouter({
    target: () => state.fixed,
    maxPerIp: 3,
    handshakeRatePerIp: 50,
  });
  assert.equal(status(await router.route(head("/"), peer)), 404, "target not known yet");
  assert.equal(kind(await router.route(head("/"), peer)), "no_target");
  state.fixed = { kind: "tcp", hostname: "127.0.0.1", port: 5900 };
  const burst = await Promise.all(Array.from({ length: 10 }, () => router.route(head("/"), peer)));
  const granted = burst.filter((r): r is Route => !isRefusal(r));
  assert.equal(granted.length, 3);
  assert.ok(burst.filter(isRefusal).every((r) => r.status === 429));
  assert.ok(burst.filter(isRefusal).every((r) => r.kind === "limit"));
  // Another client is not affected.
  assert.equal(status(await router.route(head("/"), { peer: "[::1]:5555" })), 0);
  granted[0].release();
  granted[0].release();
  assert.equal(status(await router.route(head("/"), peer)), 0);
  // Raw VNC clients: same address checks and limits, no HTTP.
  assert.ok(router.rawAllowed);
  assert.equal(status(await router.routeRaw(peer)), 429, "per-IP limit applies to raw clients too");
  assert.equal(kind(await router.routeRaw(peer)), "limit");
  assert.equal(status(await router.routeRaw({ peer: "10.0.0.1:1" })), 0);
});

Deno.test("router: per-token limit, 503 for a failing backend, bad config fails at start", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/tokens`, "t: 127.0.0.1:5901\n");
    const router = await createRouter({
      tokenPlugin: "TokenFile",
      tokenSource: `${dir}/tokens`,
      maxPerToken: 1,
    });
    const first = await router.route(head("/?token=t"), peer);
    assert.equal(status(first), 0);
    assert.equal(status(await router.route(head("/?token=t"), { peer: "10.9.9.9:1" })), 429);
    (first as Route).release();
    assert.equal(status(await router.route(head("/?token=t"), { peer: "10.9.9.9:1" })), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  await assert.rejects(
    () => createRouter({ tokenPlugin: "Bogus", tokenSource: "x" }),
    /unknown token plugin/,
  );
  await assert.rejects(() => createRouter({ trustedProxies: ["10.0.0.0/99"] }), /CIDR/);
  await assert.rejects(() => createRouter({ allowIp: ["nope"] }), /CIDR/);
});

Deno.test("peerIp strips ports and brackets", () => {
  assert.equal(peerIp("1.2.3.4:5678"), "1.2.3.4");
  assert.equal(peerIp("[::1]:5678"), "::1");
  assert.equal(peerIp("unix"), "unix");
});

Deno.test("router: token targets pass the target policy; fixed targets do not", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/tokens`,
      "meta: 169.254.169.254:80\nok: vnc.internal:5900\nrebind: twofaced.internal:5900\n",
    );
    const dns: Record<string, string[]> = {
      "vnc.internal": ["10.0.0.5"],
      "twofaced.internal": ["10.0.0.5", "169.254.169.254"],
    };
    const router = await createRouter({
      tokenPlugin: "TokenFile",
      tokenSource: `${dir}/tokens`,
      allowTarget: ["10.0.0.0/8:5900-5999"],
      maxPerToken: 1,
      resolveHost: (host) => Promise.resolve(dns[host] ?? []),
    });
    const meta = await router.route(head("/?token=meta"), peer);
    assert.deepEqual(isRefusal(meta) && [meta.kind, meta.status], ["target_denied", 403]);
    // A refused target holds no slot: the same token is refused again for the same reason.
    assert.equal(kind(await router.route(head("/?token=meta"), peer)), "target_denied");
    assert.equal(kind(await router.route(head("/?token=rebind"), peer)), "target_denied");
    const ok = await router.route(head("/?token=ok"), peer);
    assert.ok(!isRefusal(ok));
    assert.deepEqual(ok.target, {
      kind: "tcp",
      hostname: "10.0.0.5",
      port: 5900,
      name: "vnc.internal",
    });
    ok.release();

    // A fixed target is the operator's choice: not resolved, not checked, even with rules given.
    const fixed = await createRouter({
      target: { kind: "tcp", hostname: "169.254.169.254", port: 80 },
      denyTarget: ["169.254.0.0/16"],
      resolveHost: () => Promise.reject(new Error("must not resolve")),
    });
    const r = await fixed.route(head("/"), peer);
    assert.ok(!isRefusal(r));
    assert.deepEqual(r.target, { kind: "tcp", hostname: "169.254.169.254", port: 80 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  await assert.rejects(() => createRouter({ allowTarget: ["10.0.0.0/8:99999"] }), /--allow-target/);
});

Deno.test("router: a token's settings and the fixed policy, stricter winning; expired tokens 404", async () => {
  const dir = await Deno.makeTempDir();
  const now = Math.floor(Date.now() / 1000);
  try {
    await Deno.writeTextFile(
      `${dir}/tokens`,
      [
        "plain: 127.0.0.1:5901",
        "vo: 127.0.0.1:5902 view_only=true clipboard=to-server",
        'pw: 127.0.0.1:5903 password="tok pw" username=ann',
        `timed: 127.0.0.1:5904 max_duration=30 expires=${now + 3600}`,
        `old: 127.0.0.1:5905 expires=${now - 1}`,
      ].join("\n"),
    );
    const fixed = {
      credentials: { password: "fixed" },
      viewOnly: false,
      clipboard: "to-client" as const,
    };
    const tokens = { tokenPlugin: "TokenFile", tokenSource: `${dir}/tokens` };
    const router = await createRouter({ ...tokens, targetPolicy: fixed });
    const route = async (token: string) => {
      const r = await router.route(head(`/websockify?token=${token}`), peer);
      assert.ok(!isRefusal(r), token);
      r.release();
      return r;
    };
    assert.deepEqual((await route("plain")).rfb, fixed);
    assert.deepEqual((await route("vo")).rfb, {
      credentials: { password: "fixed" },
      viewOnly: true,
      clipboard: "none",
    });
    assert.deepEqual((await route("pw")).rfb?.credentials, { password: "tok pw", username: "ann" });
    const timed = await route("timed");
    assert.equal(timed.maxDuration, 30);
    assert.equal(timed.expiresAt, (now + 3600) * 1000);
    assert.equal((await route("plain")).maxDuration, undefined);
    assert.equal((await route("plain")).expiresAt, undefined);
    // expires passed: unknown (404), and a recheck finds it gone.
    const old = await router.route(head("/websockify?token=old"), peer);
    assert.equal(kind(old), "unknown_token");
    assert.equal(status(old), 404);
    assert.equal(await router.recheck("old"), false);
    assert.equal(await router.recheck("timed"), true);
    await router.close();

    // Without a fixed policy a token without settings takes the plain relay (no rfb).
    const bare = await createRouter(tokens);
    const p = await bare.route(head("/websockify?token=plain"), peer);
    assert.ok(!isRefusal(p));
    assert.equal(p.rfb, undefined);
    const v = await bare.route(head("/websockify?token=vo"), peer);
    assert.ok(!isRefusal(v));
    assert.deepEqual(v.rfb, { viewOnly: true, clipboard: "to-server" });
    await bare.close();

    // A fixed target: the fixed policy, unless it asks for nothing.
    const target = { kind: "tcp" as const, hostname: "127.0.0.1", port: 5900 };
    const withPolicy = await createRouter({ target, targetPolicy: fixed });
    const raw = await withPolicy.routeRaw(peer);
    assert.ok(!isRefusal(raw));
    assert.deepEqual(raw.rfb, fixed);
    const empty = await createRouter({
      target,
      targetPolicy: { viewOnly: false, clipboard: "both" },
    });
    const plainRaw = await empty.routeRaw(peer);
    assert.ok(!isRefusal(plainRaw));
    assert.equal(plainRaw.rfb, undefined);
    await withPolicy.close();
    await empty.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
