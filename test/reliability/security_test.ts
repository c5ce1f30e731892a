/**
 * Security checks against a real vncws process, each a test that fails if
 * the hole opens: web root traversal, unix-socket token traversal, SSL_*
 * header spoofing, Origin allow-list, secrets in logs and usage errors,
 * private shim files, and no open proxy.
 */
import assert from "node:assert/strict";
import { freePort, MAIN, startProcess, startVncws } from "../../scripts/testing/util.ts";
import { wsConnect } from "../../scripts/testing/ws_client.ts";
import { startEchoTarget } from "../../scripts/testing/targets.ts";
import { exchange, startTripwire, upgradeRequest } from "./_net.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "security: the web root cannot be left (encoded, double-encoded, backslash, symlink)",
  ...opts,
  async fn() {
    const base = await Deno.makeTempDir();
    const root = `${base}/www`;
    await Deno.mkdir(`${root}/sub`, { recursive: true });
    await Deno.writeTextFile(`${root}/index.html`, "public page");
    await Deno.writeTextFile(`${base}/secret.txt`, "TOP-SECRET-CONTENT");
    await Deno.symlink(`${base}/secret.txt`, `${root}/link.txt`);
    await Deno.symlink(base, `${root}/sub/up`);
    const port = freePort();
    const vncws = await startVncws(["--web", root, `127.0.0.1:${port}`, "127.0.0.1:9"]);
    try {
      const probes = [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/%252e%252e/secret.txt",
        "/..%2fsecret.txt",
        "/..%252fsecret.txt",
        "/sub/..%2f..%2fsecret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/..\\secret.txt",
        "/%5c..%5csecret.txt",
        "/./../secret.txt",
        "//../secret.txt",
        "/link.txt",
        "/sub/up/secret.txt",
        "/%00/../secret.txt",
        "http://127.0.0.1/../secret.txt",
        `${base}/secret.txt`,
      ];
      for (const p of probes) {
        const r = await exchange(port, `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`);
        assert.ok(!r.text.includes("TOP-SECRET"), `${p} leaked the file: ${r.text}`);
        assert.ok(r.status >= 300 && r.status < 500 && r.status !== 0, `${p} → ${r.status}`);
      }
      const ok = await exchange(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.match(ok.text, /public page/); // the root itself is served: the probes were real
    } finally {
      await vncws.stop();
      await Deno.remove(base, { recursive: true });
    }
  },
});

Deno.test({
  name: "security: UnixDomainSocketDirectory tokens cannot reach sockets outside the directory",
  ...opts,
  async fn() {
    const base = await Deno.makeTempDir();
    const dir = `${base}/socks`;
    await Deno.mkdir(dir);
    const inside = Deno.listen({ transport: "unix", path: `${dir}/desk.sock` });
    const outside = Deno.listen({ transport: "unix", path: `${base}/outside.sock` });
    await Deno.symlink(`${base}/outside.sock`, `${dir}/link.sock`);
    let outsideHits = 0;
    let insideHits = 0;
    const loops = [
      (async () => {
        for await (const c of outside) {
          outsideHits++;
          c.close();
        }
      })().catch(() => {}),
      (async () => {
        for await (const c of inside) {
          insideHits++;
          await c.write(new TextEncoder().encode("RFB 003.008\n"));
          c.close();
        }
      })().catch(() => {}),
    ];
    const port = freePort();
    const vncws = await startVncws([
      "--token-plugin",
      "UnixDomainSocketDirectory",
      "--token-source",
      dir,
      `127.0.0.1:${port}`,
    ]);
    try {
      for (
        const token of [
          "../outside.sock",
          "..%2Foutside.sock",
          "..%252Foutside.sock",
          encodeURIComponent(`${base}/outside.sock`),
          "link.sock",
          "./../outside.sock",
          "socks/../../outside.sock",
        ]
      ) {
        const r = await exchange(
          port,
          upgradeRequest(port, { path: `/websockify?token=${token}` }),
        );
        assert.notEqual(r.status, 101, `token ${token} was accepted`);
        assert.ok(r.status >= 400 && r.status < 500, `token ${token} → ${r.status}`);
      }
      assert.equal(outsideHits, 0, "a socket outside the directory was connected");
      const good = await exchange(
        port,
        upgradeRequest(port, { path: "/websockify?token=desk.sock" }),
      );
      assert.equal(good.status, 101, good.text);
      assert.equal(insideHits, 1);
    } finally {
      await vncws.stop();
      inside.close();
      outside.close();
      await Promise.all(loops);
      await Deno.remove(base, { recursive: true });
    }
  },
});

Deno.test({
  name: "security: SSL_* headers in any case never pass ClientCertCNAuth without TLS (403)",
  ...opts,
  async fn() {
    const echo = startEchoTarget();
    const port = freePort();
    const vncws = await startVncws([
      "--auth-plugin",
      "ClientCertCNAuth",
      "--auth-source",
      "alice",
      `127.0.0.1:${port}`,
      `127.0.0.1:${echo.port}`,
    ]);
    try {
      for (
        const name of [
          "SSL_CLIENT_S_DN_CN",
          "ssl_client_s_dn_cn",
          "Ssl_Client_S_Dn_Cn",
          "SSL-CLIENT-S-DN-CN",
          "X-SSL-CLIENT-S-DN-CN",
        ]
      ) {
        const r = await exchange(port, upgradeRequest(port, { headers: { [name]: "alice" } }));
        assert.equal(r.status, 403, `${name}: ${r.text}`);
      }
      assert.equal(echo.received(), 0);
    } finally {
      await vncws.stop();
      await echo.close();
    }
  },
});

Deno.test({
  name: "security: --allow-origin refuses a missing, foreign or look-alike Origin (403)",
  ...opts,
  async fn() {
    const echo = startEchoTarget();
    const port = freePort();
    const vncws = await startVncws([
      "--allow-origin",
      "https://good.example",
      `127.0.0.1:${port}`,
      `127.0.0.1:${echo.port}`,
    ]);
    try {
      for (
        const origin of [
          undefined,
          "https://evil.example",
          "https://good.example.evil.example",
          "http://good.example",
          "https://good.example:8443",
          "null",
          "",
        ]
      ) {
        const headers: Record<string, string> = origin === undefined ? {} : { Origin: origin };
        const r = await exchange(port, upgradeRequest(port, { headers }));
        assert.equal(r.status, 403, `Origin ${JSON.stringify(origin)}: ${r.text}`);
      }
      const ok = await exchange(
        port,
        upgradeRequest(port, { headers: { Origin: "https://good.example" } }),
      );
      assert.equal(ok.status, 101);
    } finally {
      await vncws.stop();
      await echo.close();
    }
  },
});

Deno.test({
  name: "security: passwords and token values never reach the log (-v) or usage errors",
  ...opts,
  async fn() {
    const echo = startEchoTarget();
    const dir = await Deno.makeTempDir();
    const password = "Pa55-SECRET-word";
    const token = "tok-SECRET-4f1d2c";
    const wrongToken = "guess-SECRET-77aa";
    await Deno.writeTextFile(`${dir}/tokens`, `${token}: 127.0.0.1:${echo.port}\n`);
    const port = freePort();
    const vncws = await startVncws([
      "-v",
      "--token-plugin",
      "TokenFile",
      "--token-source",
      `${dir}/tokens`,
      "--auth-plugin",
      "BasicHTTPAuth",
      "--auth-source",
      `admin:${password}`,
      `127.0.0.1:${port}`,
    ]);
    try {
      const good = btoa(`admin:${password}`);
      const bad = btoa(`admin:${password}x`);
      const r1 = await exchange(
        port,
        upgradeRequest(port, {
          path: `/websockify?token=${token}`,
          headers: { Authorization: `Basic ${good}` },
        }),
      );
      assert.equal(r1.status, 101, r1.text);
      for (
        const [path, auth] of [
          [`/websockify?token=${wrongToken}`, `Basic ${good}`],
          [`/websockify?token=${token}`, `Basic ${bad}`],
          [`/websockify/${wrongToken}`, `Basic ${good}`],
          [`/websockify?token=${token}`, `Bearer ${password}`],
        ]
      ) {
        const r = await exchange(
          port,
          upgradeRequest(port, { path, headers: { Authorization: auth } }),
        );
        assert.notEqual(r.status, 101);
      }
      await new Promise((r) => setTimeout(r, 300));
      await vncws.stop();
      const log = vncws.output();
      assert.match(log, /session end|refused/); // the requests were logged
      for (const secret of [password, good, bad, token, wrongToken, "SECRET"]) {
        assert.ok(!log.includes(secret), `the log contains ${secret}:\n${log}`);
      }
      // Usage errors and --help must not echo secrets given on the command line.
      for (
        const argv of [
          ["--auth-plugin", "BasicHTTPAuth", "--auth-source", `admin:${password}`, "6080"],
          ["--auth-source", `admin:${password}`, "6080", "127.0.0.1:5900"],
          ["--key-password", password, "--nosuch", "6080", "h:1"],
          ["--help", "--auth-source", `admin:${password}`],
        ]
      ) {
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", MAIN, ...argv],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
        assert.ok(!text.includes(password), `${argv.join(" ")} printed the password:\n${text}`);
      }
    } finally {
      await vncws.stop();
      await echo.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "security: the extracted rebind shim lives in a private directory (no group/other access)",
  ...opts,
  async fn() {
    const port = freePort();
    const vncws = startProcess(Deno.execPath(), [
      "run",
      "-A",
      MAIN,
      String(port),
      "--wrap-port-arg",
      "preload",
      "--",
      "/usr/bin/python3",
      "-c",
      `import socket,time\ns=socket.socket(); s.bind(("0.0.0.0", ${port})); s.listen(1); time.sleep(60)`,
    ]);
    try {
      await vncws.waitFor("wrapped server ready", 30000);
      // The wrapped server's environment names the shim.
      const children = Deno.readTextFileSync(`/proc/${vncws.pid}/task/${vncws.pid}/children`)
        .trim().split(/\s+/).filter((x) => x);
      let shim = "";
      for (const pid of [...children, ...children.flatMap(grandChildren)]) {
        const env = Deno.readTextFileSync(`/proc/${pid}/environ`).split("\0");
        const pre = env.find((e) => e.startsWith("LD_PRELOAD="));
        if (pre) shim = pre.slice("LD_PRELOAD=".length).split(/[: ]/)[0];
      }
      assert.ok(shim, "no LD_PRELOAD in the wrapped server's environment");
      const dirMode = Deno.statSync(shim.slice(0, shim.lastIndexOf("/"))).mode! & 0o777;
      const fileMode = Deno.statSync(shim).mode! & 0o777;
      assert.equal(dirMode & 0o077, 0, `shim dir mode ${dirMode.toString(8)}`);
      assert.equal(fileMode & 0o077, 0, `shim file mode ${fileMode.toString(8)}`);
    } finally {
      await vncws.stop();
    }
  },
});

function grandChildren(pid: string): string[] {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim().split(/\s+/)
      .filter((x) => x);
  } catch {
    return [];
  }
}

Deno.test({
  name:
    "security: no open proxy — Host, absolute-form, CONNECT and token text never pick the target",
  ...opts,
  async fn() {
    const echo = startEchoTarget({ banner: "FIXED-TARGET\n" });
    const evil = startTripwire();
    const evilAddr = `127.0.0.1:${evil.port}`;
    const port = freePort();
    const fixed = await startVncws([`127.0.0.1:${port}`, `127.0.0.1:${echo.port}`]);
    const dir = await Deno.makeTempDir();
    await Deno.writeTextFile(`${dir}/tokens`, `known: 127.0.0.1:${echo.port}\n`);
    const port2 = freePort();
    const routed = await startVncws([
      "--token-plugin",
      "TokenFile",
      "--token-source",
      `${dir}/tokens`,
      "--host-token",
      `127.0.0.1:${port2}`,
    ]);
    try {
      const fixedProbes = [
        upgradeRequest(port, { headers: { Host: evilAddr } }),
        upgradeRequest(port, { requestLine: `GET http://${evilAddr}/ HTTP/1.1` }),
        upgradeRequest(port, {
          path: `/websockify?token=${evilAddr}&host=127.0.0.1&port=${evil.port}`,
        }),
        upgradeRequest(port, { path: `/${evilAddr}` }),
        upgradeRequest(port, {
          headers: { "X-Forwarded-Host": evilAddr, Forwarded: `host=${evilAddr}` },
        }),
        `CONNECT ${evilAddr} HTTP/1.1\r\nHost: ${evilAddr}\r\n\r\n`,
        `GET http://${evilAddr}/ HTTP/1.1\r\nHost: ${evilAddr}\r\n\r\n`,
      ];
      for (const p of fixedProbes) {
        const r = await exchange(port, p);
        // Either refused, or relayed to the one configured target.
        if (r.status === 101) assert.match(r.text, /FIXED-TARGET/, p);
      }
      const routedProbes = [
        upgradeRequest(port2, { headers: { Host: evilAddr } }),
        upgradeRequest(port2, { headers: { Host: `[::1]:${evil.port}` } }),
        upgradeRequest(port2, {
          path: `/websockify?token=${evilAddr}`,
          headers: { Host: evilAddr },
        }),
        upgradeRequest(port2, { requestLine: `GET http://${evilAddr}/ HTTP/1.1` }),
        `CONNECT ${evilAddr} HTTP/1.1\r\nHost: ${evilAddr}\r\n\r\n`,
      ];
      for (const p of routedProbes) {
        const r = await exchange(port2, p);
        assert.notEqual(r.status, 101, `${p}\n→ ${r.text}`);
      }
      const known = await wsConnect(port2, { headers: { Host: `known:${port2}` } });
      assert.equal(known.response.status, 101); // --host-token works for a listed token
      known.close();
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(evil.hits(), 0, "vncws connected to a host:port chosen by the client");
    } finally {
      await fixed.stop();
      await routed.stop();
      await echo.close();
      await evil.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "security: control characters in the request never reach the text log raw",
  ...opts,
  async fn() {
    const port = freePort();
    const vncws = await startVncws(["--web", "none", `127.0.0.1:${port}`, "127.0.0.1:9"]);
    try {
      const r = await exchange(port, "GET /\x1b[2J\x1b]0;pwned\x07 HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.equal(r.status, 400);
      const r2 = await exchange(port, "GET / HTTP/1.1\r\nHost: x\x1b[31m\r\n\r\n");
      assert.equal(r2.status, 400);
      await new Promise((res) => setTimeout(res, 200));
      assert.ok(!vncws.output().includes("\x1b"), "an ESC byte reached the log");
    } finally {
      await vncws.stop();
    }
  },
});
