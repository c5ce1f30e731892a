import assert from "node:assert/strict";
import bcrypt from "bcryptjs";
import { AUTH_PLUGIN_NAMES, type AuthClient, createAuthorizer } from "../../src/auth/authorize.ts";
import { configureLog } from "../../src/base/log.ts";
import { head } from "./_head.ts";

const logged: string[] = [];
configureLog({ sink: (line) => logged.push(line) });

const client = { address: "127.0.0.1" };
const basic = (user: string, pw: string) => `Basic ${btoa(`${user}:${pw}`)}`;

Deno.test("BasicHTTPAuth user:password: every refusal's status", async () => {
  const a = await createAuthorizer({
    authPlugin: "BasicHTTPAuth",
    authSource: "alice:s3:cret",
    allowOrigin: [],
  });
  const missing = await a.check(head("/websockify"), client);
  assert.equal(missing?.status, 401);
  assert.equal(missing?.headers?.["WWW-Authenticate"], 'Basic realm="vncws"');
  assert.equal(
    await a.check(head("/", { Authorization: basic("alice", "s3:cret") }), client),
    null,
  );
  assert.equal(
    await a.check(head("/", { Authorization: `basic ${btoa("alice:s3:cret")}` }), client),
    null,
  );
  const wrong = await a.check(head("/", { Authorization: basic("alice", "s3") }), client);
  assert.equal(wrong?.status, 401);
  assert.equal(wrong?.headers?.["WWW-Authenticate"], 'Basic realm="vncws"');
  assert.equal(
    (await a.check(head("/", { Authorization: basic("bob", "s3:cret") }), client))?.status,
    401,
  );
  assert.equal((await a.check(head("/", { Authorization: "Bearer abc" }), client))?.status, 403);
  assert.equal(
    (await a.check(head("/", { Authorization: "Digest username=x" }), client))?.status,
    403,
  );
  for (const bad of ["Basic !!!", "Basic YWxpY2U6cw", "Basic", "Basic ====", "Basic YW=xpY2U6"]) {
    assert.equal((await a.check(head("/", { Authorization: bad }), client))?.status, 400, bad);
  }
  // Valid base64 without a colon.
  assert.equal(
    (await a.check(head("/", { Authorization: `Basic ${btoa("alice")}` }), client))?.status,
    400,
  );
  assert.ok(a.requiresHttp);
});

Deno.test("BasicHTTPAuth htpasswd file: bcrypt $2y$/$2a$/$2b$, {SHA}, plain; bad lines logged", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const b = bcrypt.hashSync("bpass", 4); // $2b$
    logged.length = 0;
    await Deno.writeTextFile(
      `${dir}/htpasswd`,
      [
        "# users",
        `yuser:$2y$${b.slice(4)}`,
        `auser:$2a$${b.slice(4)}`,
        `buser:${b}`,
        "suser:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", // sha1("password")
        "puser:plainpw",
        "",
        "md5user:$apr1$abc$defdefdefdefdefdefdefd",
        "nocolon",
        "badsha:{SHA}!!notbase64",
      ].join("\n"),
    );
    const a = await createAuthorizer({
      authPlugin: "websockify.auth_plugins.BasicHTTPAuth",
      authSource: `${dir}/htpasswd`,
      allowOrigin: [],
    });
    const ok = async (u: string, p: string) =>
      (await a.check(head("/", { Authorization: basic(u, p) }), client)) === null;
    for (const u of ["yuser", "auser", "buser"]) {
      assert.ok(await ok(u, "bpass"), u);
      assert.ok(await ok(u, "bpass"), `${u} (remembered)`);
      assert.ok(!(await ok(u, "bpasS")), `${u} wrong`);
    }
    assert.ok(await ok("suser", "password"));
    assert.ok(!(await ok("suser", "Password")));
    assert.ok(await ok("puser", "plainpw"));
    assert.ok(!(await ok("puser", "plainp")));
    assert.ok(!(await ok("md5user", "anything")));
    assert.ok(!(await ok("nobody", "bpass")));
    assert.ok(!(await ok("badsha", "x")));
    assert.ok(logged.some((l) => l.includes("not a SHA-1 digest") && l.includes(`htpasswd:10`)));
    assert.ok(logged.some((l) => l.includes("unsupported hash") && l.includes(`htpasswd:8`)));
    assert.ok(logged.some((l) => l.includes("not user:hash") && l.includes(`htpasswd:9`)));
    assert.ok(!logged.some((l) => l.includes("plainpw")), "secrets never logged");

    await Deno.writeTextFile(`${dir}/empty`, "# nothing\n");
    await assert.rejects(
      () =>
        createAuthorizer({
          authPlugin: "BasicHTTPAuth",
          authSource: `${dir}/empty`,
          allowOrigin: [],
        }),
      /no usable/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ExpectOrigin and --allow-origin: missing or foreign Origin → 403", async () => {
  const viaPlugin = await createAuthorizer({
    authPlugin: "ExpectOrigin",
    authSource: "https://a.example  http://b.example:8080",
    allowOrigin: [],
  });
  const viaFlag = await createAuthorizer({
    allowOrigin: ["https://a.example", "http://b.example:8080"],
  });
  for (const a of [viaPlugin, viaFlag]) {
    assert.equal(await a.check(head("/", { Origin: "https://a.example" }), client), null);
    assert.equal(await a.check(head("/", { Origin: "HTTPS://A.example/" }), client), null);
    assert.equal(await a.check(head("/", { Origin: "http://b.example:8080" }), client), null);
    assert.equal((await a.check(head("/"), client))?.status, 403);
    assert.equal((await a.check(head("/", { Origin: "null" }), client))?.status, 403);
    assert.equal((await a.check(head("/", { Origin: "http://b.example" }), client))?.status, 403);
    assert.equal(
      (await a.check(head("/", { Origin: "https://a.example.evil.com" }), client))?.status,
      403,
    );
    // Two Origin headers never pass.
    assert.equal(
      (await a.check(
        head("/", [["Origin", "https://a.example"], ["Origin", "https://a.example"]]),
        client,
      ))?.status,
      403,
    );
  }
  // '*': no Origin check at all (websockify's default).
  const open = await createAuthorizer({ allowOrigin: ["*"] });
  assert.equal(await open.check(head("/", { Origin: "https://evil.example" }), client), null);
  assert.equal(await open.check(head("/"), client), null);
  assert.equal(open.requiresHttp, false);
  await assert.rejects(
    createAuthorizer({ allowOrigin: ["*", "https://a.example"] }),
    /'\*' accepts every origin: give it alone/,
  );
});

Deno.test("same origin by default: Origin must name the host the client asked for", async () => {
  const a = await createAuthorizer({ allowOrigin: [] });
  const at = (host?: string, proto?: string): AuthClient => ({
    ...client,
    requested: { host, proto },
  });
  const check = async (origin: string | undefined, who: AuthClient) =>
    (await a.check(head("/", origin === undefined ? {} : { Origin: origin }), who))?.status ?? 200;
  // Same origin, with and without explicit ports; IPv6; case.
  assert.equal(await check("http://vnc.example:6080", at("vnc.example:6080")), 200);
  assert.equal(await check("https://VNC.example", at("vnc.example")), 200);
  assert.equal(await check("https://vnc.example:443", at("vnc.example:443")), 200);
  assert.equal(await check("http://vnc.example", at("vnc.example:80")), 200);
  assert.equal(await check("http://[::1]:6080", at("[::1]:6080")), 200);
  // No Origin: a native client or script.
  assert.equal(await check(undefined, at("vnc.example:6080")), 200);
  // Another site, another port, a look-alike, an opaque or non-web origin.
  assert.equal(await check("https://evil.example", at("vnc.example:6080")), 403);
  assert.equal(await check("http://vnc.example:7000", at("vnc.example:6080")), 403);
  assert.equal(await check("https://vnc.example.evil.com", at("vnc.example")), 403);
  assert.equal(await check("null", at("vnc.example")), 403);
  assert.equal(await check("file://", at("vnc.example")), 403);
  assert.equal(await check("not a url", at("vnc.example")), 403);
  // A Host without a port (a reverse proxy passing $host): host names are compared...
  assert.equal(await check("https://vnc.example:8443", at("vnc.example")), 200);
  // ...and the port too when a trusted proxy names the scheme.
  assert.equal(await check("https://vnc.example", at("vnc.example", "https")), 200);
  assert.equal(await check("https://vnc.example:8443", at("vnc.example", "https")), 403);
  // No Host to compare with.
  assert.equal(await check("https://vnc.example", at()), 403);
  const refused = await a.check(head("/", { Origin: "https://evil.example" }), at("v.example"));
  assert.equal(refused?.kind, "origin");
  assert.match(refused!.reason, /Origin https:\/\/evil\.example .*--allow-origin/);
  // Raw clients are still possible: no Origin list is configured.
  assert.equal(a.requiresHttp, false);
  // ExpectOrigin replaces the rule with its list.
  const plugin = await createAuthorizer({
    authPlugin: "websockify.auth_plugins.ExpectOrigin",
    authSource: "https://portal.example",
    allowOrigin: [],
  });
  assert.equal(
    await plugin.check(head("/", { Origin: "https://portal.example" }), at("vnc.example")),
    null,
  );
});

Deno.test("ClientCertCNAuth: CN from TLS only; SSL_* headers in any case are ignored", async () => {
  const a = await createAuthorizer({
    authPlugin: "ClientCertCNAuth",
    authSource: "alice  bob",
    allowOrigin: [],
  });
  assert.equal(await a.check(head("/"), { address: "127.0.0.1", clientCertCN: "alice" }), null);
  assert.equal(await a.check(head("/"), { address: "127.0.0.1", clientCertCN: "bob" }), null);
  assert.equal(
    (await a.check(head("/"), { address: "127.0.0.1", clientCertCN: "mallory" }))?.status,
    403,
  );
  for (
    const name of [
      "SSL_CLIENT_S_DN_CN",
      "ssl_client_s_dn_cn",
      "Ssl_Client_S_Dn_Cn",
      "SSL_CLIENT_VERIFY",
    ]
  ) {
    const spoof = head("/", { [name]: name === "SSL_CLIENT_VERIFY" ? "SUCCESS" : "alice" });
    const r = await a.check(spoof, client);
    assert.equal(r?.status, 403, name);
    // A spoofed header cannot change a real certificate's verdict either.
    assert.equal(
      (await a.check(spoof, { address: "127.0.0.1", clientCertCN: "mallory" }))?.status,
      403,
    );
  }
});

Deno.test("IP allow and deny lists with CIDR; deny wins; order before the plugin", async () => {
  const a = await createAuthorizer({
    allowOrigin: [],
    allowIp: ["10.0.0.0/8", "2001:db8::/32"],
    denyIp: ["10.66.0.0/16"],
    authPlugin: "BasicHTTPAuth",
    authSource: "u:p",
  });
  const auth = { Authorization: basic("u", "p") };
  assert.equal(await a.check(head("/", auth), { address: "10.1.2.3" }), null);
  assert.equal(await a.check(head("/", auth), { address: "::ffff:10.1.2.3" }), null);
  assert.equal(await a.check(head("/", auth), { address: "2001:db8::9" }), null);
  assert.equal((await a.check(head("/", auth), { address: "10.66.1.1" }))?.status, 403);
  assert.equal((await a.check(head("/", auth), { address: "192.0.2.1" }))?.status, 403);
  // An address refusal comes before the 401 challenge (no password prompt for refused hosts).
  assert.equal((await a.check(head("/"), { address: "192.0.2.1" }))?.status, 403);
  assert.equal(a.checkAddress("10.66.0.1")?.status, 403);
  assert.equal(a.checkAddress("10.0.0.1"), null);
  const denyOnly = await createAuthorizer({ allowOrigin: [], denyIp: ["::1", "127.0.0.0/8"] });
  assert.equal((await denyOnly.check(head("/"), { address: "::1" }))?.status, 403);
  assert.equal((await denyOnly.check(head("/"), { address: "::ffff:127.0.0.2" }))?.status, 403);
  assert.equal(await denyOnly.check(head("/"), { address: "192.0.2.1" }), null);
  assert.equal(denyOnly.requiresHttp, false);
});

Deno.test("configuration errors are reported at start", async () => {
  await assert.rejects(
    () => createAuthorizer({ authPlugin: "Nope", allowOrigin: [] }),
    (e: Error) => {
      for (const n of AUTH_PLUGIN_NAMES) assert.ok(e.message.includes(n));
      return true;
    },
  );
  await assert.rejects(
    () => createAuthorizer({ authPlugin: "BasicHTTPAuth", allowOrigin: [] }),
    /needs --auth-source/,
  );
  await assert.rejects(
    () => createAuthorizer({ authPlugin: "BasicHTTPAuth", authSource: "nocolon", allowOrigin: [] }),
    /user:password/,
  );
  await assert.rejects(
    () => createAuthorizer({ authSource: "u:p", allowOrigin: [] }),
    /without --auth-plugin/,
  );
  await assert.rejects(
    () => createAuthorizer({ allowIp: ["10.0.0.0/40"], allowOrigin: [] }),
    /CIDR/,
  );
});
