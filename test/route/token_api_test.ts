import assert from "node:assert/strict";
import { BaseTokenAPI, JSONTokenApi } from "../../src/route/token_api.ts";
import { TokenBackendError } from "../../src/route/resolver.ts";
import { freePort } from "../../scripts/testing/util.ts";
import { addLogSink } from "../../src/base/log.ts";

/** A local token API: GET /plain/<token>, /json/<token>, /slow/<token>, /fail/<token>. */
function startApi() {
  const seen: string[] = [];
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => release = r);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const [, kind, token] = url.pathname.split("/");
    seen.push(`${kind}/${decodeURIComponent(token)}`);
    if (kind === "slow") {
      await gate;
      return new Response("127.0.0.1:5901");
    }
    if (kind === "fail") return new Response("boom", { status: 500 });
    const targets: Record<string, [string, number | string]> = {
      "desk 1": ["127.0.0.1", 5901],
      desk6: ["::1", "5906"],
      sock: ["unix_socket", "/run/s.sock"],
    };
    const t = targets[decodeURIComponent(token)];
    if (kind === "plain") {
      if (!t) return new Response("no", { status: 404 });
      if (token === "bad") return new Response("nonsense");
      return new Response(
        t[0] === "unix_socket"
          ? `unix_socket:${t[1]}`
          : `${t[0].includes(":") ? `[${t[0]}]` : t[0]}:${t[1]}\n`,
      );
    }
    if (kind === "json") {
      if (!t) return new Response("{}", { status: 403 });
      return Response.json({ host: t[0], port: t[1] });
    }
    return new Response("?", { status: 400 });
  });
  const port = (server.addr as Deno.NetAddr).port;
  return { server, port, seen, release };
}

Deno.test("BaseTokenAPI: plain body, percent-encoded token, 4xx = unknown, cache", async () => {
  const api = startApi();
  try {
    const r = new BaseTokenAPI(`http://127.0.0.1:${api.port}/plain/%s`, { cacheTtl: 60 });
    assert.deepEqual(await r.lookup("desk 1"), { kind: "tcp", hostname: "127.0.0.1", port: 5901 });
    assert.deepEqual(api.seen, ["plain/desk 1"]);
    assert.deepEqual(await r.lookup("desk6"), { kind: "tcp", hostname: "::1", port: 5906 });
    assert.deepEqual(await r.lookup("sock"), { kind: "unix", path: "/run/s.sock" });
    assert.equal(await r.lookup("nobody"), null);
    assert.equal(r.requestCount, 4);
    // Cached: positive and negative answers.
    assert.deepEqual(await r.lookup("desk 1"), { kind: "tcp", hostname: "127.0.0.1", port: 5901 });
    assert.equal(await r.lookup("nobody"), null);
    assert.equal(r.requestCount, 4);
    // A token cannot smuggle a path: "/" is percent-encoded.
    assert.equal(await r.lookup("../json/desk6"), null);
    assert.equal(api.seen.at(-1), "plain/../json/desk6");
    await r.close();
  } finally {
    await api.server.shutdown();
  }
});

Deno.test("BaseTokenAPI: TTL 0 means every lookup asks", async () => {
  const api = startApi();
  try {
    const r = new BaseTokenAPI(`http://127.0.0.1:${api.port}/plain/%s`, { cacheTtl: 0 });
    await r.lookup("desk6");
    await r.lookup("desk6");
    assert.equal(r.requestCount, 2);
  } finally {
    await api.server.shutdown();
  }
});

Deno.test("JSONTokenApi: JSON host and port", async () => {
  const api = startApi();
  try {
    const r = new JSONTokenApi(`http://127.0.0.1:${api.port}/json/%s`);
    assert.deepEqual(await r.lookup("desk 1"), { kind: "tcp", hostname: "127.0.0.1", port: 5901 });
    assert.deepEqual(await r.lookup("desk6"), { kind: "tcp", hostname: "::1", port: 5906 });
    assert.deepEqual(await r.lookup("sock"), { kind: "unix", path: "/run/s.sock" });
    assert.equal(await r.lookup("nobody"), null);
    // A 2xx answer without a usable target is a backend fault.
    const p = new JSONTokenApi(`http://127.0.0.1:${api.port}/plain/%s`);
    await assert.rejects(() => p.lookup("desk6"), TokenBackendError);
  } finally {
    await api.server.shutdown();
  }
});

Deno.test("token API: 500, timeout and unreachable are TokenBackendError, not cached", async () => {
  const api = startApi();
  try {
    const fail = new BaseTokenAPI(`http://127.0.0.1:${api.port}/fail/%s`);
    await assert.rejects(
      () => fail.lookup("x"),
      (e: Error) => e instanceof TokenBackendError && /500/.test(e.message),
    );
    await assert.rejects(() => fail.lookup("x"), TokenBackendError);
    assert.equal(fail.requestCount, 2);

    const slow = new BaseTokenAPI(`http://127.0.0.1:${api.port}/slow/%s`, { timeout: 0.3 });
    await assert.rejects(
      () => slow.lookup("x"),
      (e: Error) => e instanceof TokenBackendError && /no answer within/.test(e.message),
    );

    const dead = new BaseTokenAPI(`http://127.0.0.1:${freePort()}/plain/%s`);
    await assert.rejects(
      () => dead.lookup("x"),
      (e: Error) => e instanceof TokenBackendError && /unreachable/.test(e.message),
    );
  } finally {
    api.release();
    await api.server.shutdown();
  }
});

Deno.test("token API: concurrent lookups of one token share one request", async () => {
  const api = startApi();
  try {
    const r = new BaseTokenAPI(`http://127.0.0.1:${api.port}/slow/%s`);
    const all = Promise.all([r.lookup("t"), r.lookup("t"), r.lookup("t")]);
    await new Promise((res) => setTimeout(res, 50));
    api.release();
    const results = await all;
    for (const t of results) {
      assert.deepEqual(t, { kind: "tcp", hostname: "127.0.0.1", port: 5901 });
    }
    assert.equal(r.requestCount, 1);
  } finally {
    await api.server.shutdown();
  }
});

Deno.test("token API source must be an http(s) URL", () => {
  assert.throws(() => new BaseTokenAPI("file:///etc/%s"), /http/);
  assert.throws(() => new BaseTokenAPI("not a url %s"), /not a URL/);
});

Deno.test("JSONTokenApi: settings as fields beside host and port; none for a plain answer", async () => {
  const secret = "api-Secret-9";
  const logged: string[] = [];
  const remove = addLogSink((text) => logged.push(text));
  const answers: Record<string, unknown> = {
    full: {
      host: "127.0.0.1",
      port: 5901,
      password: secret,
      "view_only": true,
      clipboard: "to-server",
      max_duration: "120",
      expires: 4102444800,
    },
    plain: { host: "127.0.0.1", port: 5902, name: "lab 2" },
    typo: { host: "127.0.0.1", port: 5903, password: secret, viewOnly: true },
    badval: { host: "127.0.0.1", port: 5904, password: secret, view_only: "maybe" },
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const token = new URL(req.url).pathname.slice(1);
    return token in answers ? Response.json(answers[token]) : new Response("", { status: 404 });
  });
  try {
    const api = new JSONTokenApi(`http://127.0.0.1:${server.addr.port}/%s`);
    assert.deepEqual(await api.lookupDetail("full"), {
      target: { kind: "tcp", hostname: "127.0.0.1", port: 5901 },
      settings: {
        password: secret,
        viewOnly: true,
        clipboard: "to-server",
        maxDuration: 120,
        expires: 4102444800,
      },
    });
    assert.deepEqual(await api.lookupDetail("plain"), {
      target: { kind: "tcp", hostname: "127.0.0.1", port: 5902 },
    });
    assert.equal(await api.lookupDetail("nobody"), null);
    // A misspelt or bad setting makes the answer unusable (503), logged without the password.
    await assert.rejects(() => api.lookupDetail("typo"), TokenBackendError);
    await assert.rejects(() => api.lookupDetail("badval"), /view_only must be true or false/);
    assert.ok(logged.some((l) => l.includes("did you mean view_only")), logged.join("\n"));
    assert.ok(!logged.some((l) => l.includes(secret)), logged.join("\n"));
  } finally {
    remove();
    await server.shutdown();
  }
});

Deno.test("BaseTokenAPI: a body with a password beside the target is refused without repeating it", async () => {
  const logged: string[] = [];
  const remove = addLogSink((text) => logged.push(text));
  const bodies: Record<string, string> = {
    spaced: "127.0.0.1:5900 password=hunter2\n",
    glued: "127.0.0.1:5900password=hunter2",
    good: "127.0.0.1:5901\n",
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const token = new URL(req.url).pathname.slice(1);
    return new Response(bodies[token] ?? "", { status: token in bodies ? 200 : 404 });
  });
  try {
    const api = new BaseTokenAPI(`http://127.0.0.1:${server.addr.port}/%s`);
    assert.deepEqual(await api.lookup("good"), { kind: "tcp", hostname: "127.0.0.1", port: 5901 });
    for (const token of ["spaced", "glued"]) {
      await assert.rejects(
        () => api.lookup(token),
        (e: Error) => e instanceof TokenBackendError && !e.message.includes("hunter2"),
      );
    }
    assert.equal(logged.filter((l) => l.includes("no valid target")).length, 2, logged.join("\n"));
    assert.ok(!logged.some((l) => l.includes("hunter2")), logged.join("\n"));
  } finally {
    remove();
    await server.shutdown();
  }
});
