/**
 * `/healthz` and `/readyz` on the proxy's own port, end to end: vncws as a
 * real process checked the way a load balancer checks it (HAProxy's
 * `option httpchk GET /readyz`, a Kubernetes readinessProbe): with and
 * without the web server, behind token routing and an auth plugin, over
 * TLS, and without counting against any limit.
 */
import assert from "node:assert/strict";
import { freePort, skipUnless, startVncws, tempDir } from "../../scripts/testing/util.ts";
import { readAll, wsConnect } from "../../scripts/testing/ws_client.ts";
import { startEchoTarget, startProxy } from "../../scripts/testing/targets.ts";
import { certArgs, makeCerts, sslOnlyArgs } from "../../scripts/testing/certs.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const enc = new TextEncoder();

/** An answer read off the socket: status, head and body. */
interface Answer {
  status: number;
  head: string;
  body: string;
}

/** One request on a fresh connection (TCP, or TLS when `tls` names the CA), read to EOF. */
async function ask(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; tls?: string } = {},
): Promise<Answer> {
  const conn = options.tls
    ? await Deno.connectTls({ hostname: "localhost", port, caCerts: [options.tls] })
    : await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    let req = `${options.method ?? "GET"} ${path} HTTP/1.1\r\nHost: vncws\r\n`;
    for (const [k, v] of Object.entries(options.headers ?? {})) req += `${k}: ${v}\r\n`;
    await conn.write(enc.encode(req + "\r\n"));
    const text = await readAll(conn);
    const at = text.indexOf("\r\n\r\n");
    const head = at < 0 ? text : text.slice(0, at);
    return {
      status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1] ?? 0),
      head,
      body: at < 0 ? "" : text.slice(at + 4),
    };
  } finally {
    try {
      conn.close();
    } catch { /* closed by the peer */ }
  }
}

Deno.test({
  name: "main port, bundled viewer: GET and HEAD of /readyz and /healthz; not logged",
  ...opts,
  async fn() {
    await using p = await startProxy(["-v"]);
    const { port, vncws } = p;
    const ready = await ask(port, "/readyz");
    assert.equal(ready.status, 200);
    assert.equal(ready.body, "ready\n");
    assert.match(ready.head, /^Cache-Control: no-store$/im);
    assert.match(ready.head, /^Content-Type: text\/plain/im);
    const health = await ask(port, "/healthz");
    assert.equal(health.status, 200);
    assert.equal(health.body, "ok\n");
    // HEAD: the same head, no body.
    const head = await ask(port, "/readyz", { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.match(head.head, /^Content-Length: 6$/im);
    assert.equal(head.body, "");
    // Only GET and HEAD are health checks: a POST goes to the web side, which refuses it.
    const post = await ask(port, "/readyz", { method: "POST", headers: { "Content-Length": "0" } });
    assert.notEqual(post.status, 200);
    // The viewer is still served beside them, and logged at -v.
    const page = await ask(port, "/vnc.html");
    assert.equal(page.status, 200);
    await vncws.waitFor(/http .*path=\/vnc\.html/);
    // Health checks are not logged (a balancer asks every few seconds), nor are they sessions;
    // the POST, which is not one, is.
    const lines = vncws.output().split("\n").filter((l) => /readyz|healthz|session/.test(l));
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0], /method=POST path=\/readyz status=405/);
  },
});

Deno.test({
  name: "--web none and --web DIR: health answered; a file named readyz in the web root is not",
  ...opts,
  async fn() {
    {
      await using p = await startProxy(["--web", "none"]);
      assert.equal((await ask(p.port, "/readyz")).status, 200);
      assert.equal((await ask(p.port, "/healthz")).body, "ok\n");
      // Everything else is refused as before: this port serves WebSocket only.
      assert.equal((await ask(p.port, "/vnc.html")).status, 405);
    }
    using dir = tempDir();
    Deno.writeTextFileSync(`${dir.path}/readyz`, "from the file\n");
    Deno.writeTextFileSync(`${dir.path}/healthz`, "from the file\n");
    Deno.writeTextFileSync(`${dir.path}/hello.txt`, "hello\n");
    await using p = await startProxy(["--web", dir.path]);
    // The balancer gets vncws's state, never a file's contents.
    assert.equal((await ask(p.port, "/readyz")).body, "ready\n");
    assert.equal((await ask(p.port, "/healthz")).body, "ok\n");
    // Other files of the root are served.
    const file = await ask(p.port, "/hello.txt");
    assert.equal(file.status, 200);
    assert.equal(file.body, "hello\n");
  },
});

Deno.test({
  name: "token routing with BasicHTTPAuth and --web-auth: health checks need no credentials",
  ...opts,
  async fn() {
    const target = startEchoTarget();
    using dir = tempDir();
    Deno.writeTextFileSync(`${dir.path}/tokens`, `desk: 127.0.0.1:${target.port}\n`);
    const port = freePort();
    const vncws = await startVncws([
      "--token-plugin",
      "TokenFile",
      "--token-source",
      `${dir.path}/tokens`,
      "--auth-plugin",
      "BasicHTTPAuth",
      "--auth-source",
      "alice:s3cret",
      "--web-auth",
      String(port),
    ]);
    try {
      assert.equal((await ask(port, "/readyz")).status, 200);
      assert.equal((await ask(port, "/healthz")).status, 200);
      // Everything else still asks for the password: the page and the WebSocket.
      const page = await ask(port, "/vnc.html");
      assert.equal(page.status, 401);
      assert.match(page.head, /^WWW-Authenticate: Basic/im);
      const anon = await wsConnect(port, { path: "/websockify?token=desk" });
      assert.equal(anon.response.status, 401);
      anon.close();
      const alice = await wsConnect(port, {
        path: "/websockify?token=desk",
        headers: { Authorization: `Basic ${btoa("alice:s3cret")}` },
      });
      assert.equal(alice.response.status, 101);
      alice.close();
    } finally {
      await vncws.stop();
      await target.close();
    }
  },
});

Deno.test({
  name: "health checks take no --max-per-ip slot and no --handshake-rate token; --deny-ip",
  ...opts,
  async fn() {
    {
      await using p = await startProxy(["--max-per-ip", "1"]);
      const a = await wsConnect(p.port);
      assert.equal(a.response.status, 101);
      // The address's one session is in use: health checks are answered all the same.
      for (let i = 0; i < 5; i++) assert.equal((await ask(p.port, "/readyz")).status, 200);
      const b = await wsConnect(p.port);
      assert.equal(b.response.status, 429);
      b.close();
      a.close();
    }
    {
      // One handshake per 100 s: the bucket holds one.
      await using p = await startProxy(["--handshake-rate", "0.01"]);
      for (let i = 0; i < 5; i++) assert.equal((await ask(p.port, "/healthz")).status, 200);
      const a = await wsConnect(p.port);
      assert.equal(a.response.status, 101, "the health checks took the handshake");
      const b = await wsConnect(p.port);
      assert.equal(b.response.status, 429);
      b.close();
      a.close();
    }
    {
      // Readiness names no client: it is answered before the address lists.
      await using p = await startProxy(["--deny-ip", "127.0.0.0/8"]);
      assert.equal((await ask(p.port, "/readyz")).status, 200);
      assert.equal((await ask(p.port, "/vnc.html")).status, 403);
      assert.doesNotMatch(p.vncws.output(), /readyz/);
    }
  },
});

Deno.test({
  name: "--max-connections: a full instance answers a health check 503 busy, like anything else",
  ...opts,
  async fn() {
    await using p = await startProxy(["--max-connections", "1"]);
    const a = await wsConnect(p.port);
    assert.equal(a.response.status, 101);
    // The accept loop refuses before reading the request: the balancer sees a full instance.
    const full = await ask(p.port, "/readyz");
    assert.equal(full.status, 503);
    assert.match(full.body, /too many connections/);
    a.close();
    await p.vncws.waitFor("session end");
    assert.equal((await ask(p.port, "/readyz")).status, 200);
  },
});

Deno.test({
  name: "TLS: health on the shared port (TLS and plain) and with --ssl-only (TLS only)",
  ignore: skipUnless("openssl", "apt-get install openssl"),
  ...opts,
  async fn() {
    const certs = await makeCerts();
    try {
      const ca = Deno.readTextFileSync(certs.ca);
      {
        await using p = await startProxy(certArgs(certs));
        const secure = await ask(p.port, "/readyz", { tls: ca });
        assert.equal(secure.status, 200);
        assert.equal(secure.body, "ready\n");
        const head = await ask(p.port, "/healthz", { tls: ca, method: "HEAD" });
        assert.equal(head.status, 200);
        assert.equal(head.body, "");
        assert.equal((await ask(p.port, "/readyz")).status, 200);
      }
      await using p = await startProxy(sslOnlyArgs(certs));
      assert.equal((await ask(p.port, "/readyz", { tls: ca })).body, "ready\n");
      // A plain check gets no answer: --ssl-only closes plain connections.
      const plain = await ask(p.port, "/readyz");
      assert.equal(plain.status, 0);
      await p.vncws.waitFor(/refused .*--ssl-only/);
    } finally {
      await certs.remove();
    }
  },
});
