import assert from "node:assert/strict";
import { type Command, parseCommandLine, UsageError } from "../../src/cli/cli.ts";
import type { Config } from "../../src/config/config.ts";

function run(line: string): Config {
  const c: Command = parseCommandLine(line.split(" ").filter((s) => s));
  assert.equal(c.kind, "run", line);
  return (c as { config: Config }).config;
}

function usage(line: string): string {
  try {
    parseCommandLine(line.split(" ").filter((s) => s));
  } catch (e) {
    if (e instanceof UsageError) return e.message;
    throw e;
  }
  throw new Error(`accepted: ${line}`);
}

Deno.test("websockify's basic form, from seed 001 and its README", () => {
  const c = run("8765 127.0.0.1:12346");
  assert.deepEqual(c.listen, { hostname: "", port: 8765 });
  assert.deepEqual(c.target, { kind: "tcp", hostname: "127.0.0.1", port: 12346, tls: undefined });
  const dir = Deno.makeTempDirSync(); // stands in for /usr/share/novnc
  const w = run(`--web ${dir} 6080 localhost:5900`);
  assert.equal(w.web, dir);
  assert.equal(run(`--web=${dir}/ 5901 localhost:5900`).web, `${dir}/`);
  Deno.removeSync(dir);
});

Deno.test("listen and target addresses: brackets, bare IPv6, host", () => {
  assert.deepEqual(run("[::1]:6080 [::1]:5900").listen, { hostname: "::1", port: 6080 });
  assert.deepEqual(run("::1:6080 ::1:5900").listen, { hostname: "::1", port: 6080 });
  assert.deepEqual(run("::1:6080 ::1:5900").target, {
    kind: "tcp",
    hostname: "::1",
    port: 5900,
    tls: undefined,
  });
  assert.deepEqual(run("127.0.0.1:6080 h:1").listen, { hostname: "127.0.0.1", port: 6080 });
});

Deno.test("options before and after positionals, -v counted", () => {
  const c = run("6080 -v 127.0.0.1:5900 -v --traffic");
  assert.equal(c.verbose, 2);
  assert.equal(c.traffic, true);
});

Deno.test("wrap mode: websockify README and seed 002 forms", () => {
  const c = run("5901 --wrap-mode=ignore -- vncserver :1");
  assert.deepEqual(c.wrap?.command, ["vncserver", ":1"]);
  assert.equal(c.wrap?.mode, "ignore");
  assert.equal(c.target, undefined);
  // The wrapped command's own flags are not ours.
  assert.deepEqual(run("5901 -- Xvnc :1 -geometry 800x600 -v").wrap?.command, [
    "Xvnc",
    ":1",
    "-geometry",
    "800x600",
    "-v",
  ]);
});

Deno.test("unix listen and unix target", () => {
  const c = run("--unix-listen /tmp/x.sock --unix-listen-mode 0660 127.0.0.1:5900");
  assert.equal(c.unixListen, "/tmp/x.sock");
  assert.equal(c.unixListenMode, 0o660);
  assert.deepEqual(run("--unix-target /tmp/vnc.sock 6080").target, {
    kind: "unix",
    path: "/tmp/vnc.sock",
  });
});

Deno.test("limits and timeouts parse sizes and seconds", () => {
  const c = run(
    "6080 h:1 --max-message-size 1M --head-timeout 2.5 --raw-wait 0 --max-connections 7",
  );
  assert.equal(c.limits.maxMessageBytes, 1024 * 1024);
  assert.equal(c.limits.headTimeout, 2.5);
  assert.equal(c.limits.rawWait, 0);
  assert.equal(c.limits.maxConnections, 7);
  assert.equal(run("6080 h:1 --web none").web, null);
});

Deno.test("usage errors say what is wrong and how to fix it", () => {
  const table: Array<[string, RegExp]> = [
    ["", /missing the port to listen on/],
    ["6080", /missing the target/],
    ["abc 127.0.0.1:5900", /listen port "abc"/],
    ["6080 127.0.0.1", /must look like host:port/],
    ["6080 127.0.0.1:99999", /from 1 to 65535/],
    ["6080 a:1 b:2", /too many arguments/],
    ["5901 127.0.0.1:5900 -- Xvnc :1", /cannot be used together.*drop the target/],
    ["5901 --", /must be followed by the command/],
    ["--wrap-mode=bogus 5901 -- Xvnc", /exit, ignore or respawn/],
    ["--wrap-mode=ignore 5901 h:1", /needs a command to wrap/],
    ["--verbos 6080 h:1", /unknown option --verbos \(did you mean --verbose\?\)/],
    ["--frobnicate 6080 h:1", /unknown option --frobnicate$/],
    ["--heartbeat x 6080 h:1", /--heartbeat takes a number of seconds/],
    ["--max-message-size lots 6080 h:1", /takes a size/],
    ["--log-format xml 6080 h:1", /text or json/],
    ["--unix-listen-mode 0600 6080 h:1", /--unix-listen-mode needs --unix-listen/],
    ["--web", /--web needs a value/],
  ];
  for (const [line, want] of table) assert.match(usage(line), want, line);
});

Deno.test("websockify cross-option rules", () => {
  // These rules hold whether or not the feature has landed yet.
  const table: Array<[string, RegExp]> = [
    ["--token-source x 6080", /--token-source needs --token-plugin/],
    ["--host-token 6080 h:1", /--host-token needs --token-plugin/],
    ["--auth-source x 6080 h:1", /--auth-source needs --auth-plugin/],
    ["--web-auth 6080 h:1", /--web-auth needs --auth-plugin/],
    ["--legacy-syslog 6080 h:1", /--legacy-syslog needs --syslog/],
    ["--ssl-only 6080 h:1", /--ssl-only needs --cert or --cert-dir/],
    ["--verify-client 6080 h:1", /--verify-client needs --cert or --cert-dir/],
  ];
  for (const [line, want] of table) assert.match(usage(line), want, line);
});

Deno.test("--cert/--key repeat in pairs (SNI); --cert-dir alone serves TLS", () => {
  const two = run("--cert a.pem --key a.key --cert b.pem --key b.key 6443 h:1");
  assert.equal(two.tls.cert, "a.pem");
  assert.equal(two.tls.key, "a.key");
  assert.deepEqual(two.tls.extraCerts, [{ cert: "b.pem", key: "b.key" }]);
  const inside = run("--cert a.pem --cert b.pem 6443 h:1");
  assert.equal(inside.tls.key, undefined);
  assert.deepEqual(inside.tls.extraCerts, [{ cert: "b.pem", key: undefined }]);
  assert.deepEqual(run("--cert a.pem 6443 h:1").tls.extraCerts, []);
  const dir = run("--cert-dir /etc/letsencrypt/live --ssl-only 6443 h:1");
  assert.equal(dir.tls.certDir, "/etc/letsencrypt/live");
  assert.equal(dir.tls.cert, undefined);
  assert.equal(dir.tls.sslOnly, true);
  assert.match(
    usage("--cert a.pem --cert b.pem --key a.key 6443 h:1"),
    /1 --key for 2 --cert: give one --key per --cert, in the same order, or none/,
  );
  assert.match(usage("--key a.key 6443 h:1"), /--key needs --cert/);
});

Deno.test("seed 002 and 004 command lines: daemon wrap, token file, --web", () => {
  const wrap = run("5901 -D --wrap-mode=ignore -- tightvncserver :1");
  assert.equal(wrap.daemon, true);
  assert.deepEqual(wrap.wrap?.command, ["tightvncserver", ":1"]);
  const tokens = run("--token-plugin TokenFile --token-source tokens.conf 6080");
  assert.equal(tokens.tokenPlugin, "TokenFile");
  assert.equal(tokens.tokenSource, "tokens.conf");
  assert.equal(tokens.target, undefined);
  const legacy = run("--target-config tokens.conf 6080");
  assert.equal(legacy.tokenPlugin, "TokenFile");
  const tls = run("--cert self.pem --ssl-only 6443 127.0.0.1:5900");
  assert.equal(tls.tls.sslOnly, true);
  assert.deepEqual(run("--metrics 9180 6080 h:1").metrics, { hostname: "127.0.0.1", port: 9180 });
  assert.equal(run("--proxy-protocol v2 6080 h:1").proxyProtocol, 2);
  assert.equal(run("--frame-options none 6080 h:1").frameOptions, "");
});

Deno.test("a target with a token plugin is websockify's 'Too many arguments', explained", () => {
  assert.match(usage("--token-plugin TokenFile --token-source t 6080 h:1"), /drop "h:1"/);
  assert.match(usage("--web /nonexistent/dir 6080 h:1"), /no such directory/);
  assert.match(usage("--frame-options ALLOW 6080 h:1"), /SAMEORIGIN, DENY or none/);
  assert.match(usage("--proxy-protocol v3 6080 h:1"), /v1 or v2/);
});

Deno.test("help and version", () => {
  assert.equal(parseCommandLine(["--help"]).kind, "help");
  assert.equal(parseCommandLine(["-h"]).kind, "help");
  assert.equal(parseCommandLine(["--version"]).kind, "version");
});

Deno.test("--libserver is accepted with a warning; --target-config maps to TokenFile", () => {
  const c = parseCommandLine(["--libserver", "6080", "h:1"]);
  assert.equal(c.kind, "run");
  assert.match((c as { warnings: string[] }).warnings[0], /no effect/);
});

Deno.test("--allow-target/--deny-target: repeatable, comma-separated, checked at start", () => {
  const tokens = "--token-plugin TokenFile --token-source /dev/null 6080";
  const c = run(
    `${tokens} --allow-target 10.20.0.0/16:5900-5999,[fd00::/8]:5900 ` +
      `--allow-target *.vnc.example.com --deny-target unix:/run/vnc/private*`,
  );
  assert.deepEqual(c.allowTarget, [
    "10.20.0.0/16:5900-5999",
    "[fd00::/8]:5900",
    "*.vnc.example.com",
  ]);
  assert.deepEqual(c.denyTarget, ["unix:/run/vnc/private*"]);
  assert.deepEqual(run(`${tokens}`).allowTarget, []);
  assert.match(
    usage(`${tokens} --allow-target 10.0.0.0/8:5999-5900`),
    /^--allow-target "10\.0\.0\.0\/8:5999-5900" is not a target rule: .*runs backwards; give CIDR/,
  );
  assert.match(usage(`${tokens} --deny-target 10.0.0.0/8,bad!`), /^--deny-target "bad!"/);
  assert.match(usage(`${tokens} --allow-target unix:run/*`), /absolute path/);
  // Rules with a fixed target: accepted, with a warning that they do not apply to it.
  const fixed = parseCommandLine(["--deny-target", "10.0.0.0/8", "6080", "10.0.0.5:5900"]);
  assert.equal(fixed.kind, "run");
  assert.ok(fixed.kind === "run" && fixed.warnings.some((w) => /token plugin only/.test(w)));
  const quiet = parseCommandLine([...tokens.split(" "), "--deny-target", "10.0.0.0/8"]);
  assert.ok(quiet.kind === "run" && !quiet.warnings.some((w) => /token plugin only/.test(w)));
});

Deno.test("--jwt-*: JWTTokenApi only; mapped into Config; base64url by default", () => {
  const plain = run("--token-plugin JWTTokenApi --token-source k 6080");
  assert.equal(plain.jwtSecretEncoding, "base64url");
  assert.equal(plain.jwtAudience, undefined);
  assert.equal(plain.jwtIssuer, undefined);
  const c = run(
    "--token-plugin websockify.token_plugins.JWTTokenApi --token-source k " +
      "--jwt-secret-encoding raw --jwt-audience vnc --jwt-issuer https://idp 6080",
  );
  assert.equal(c.jwtSecretEncoding, "raw");
  assert.equal(c.jwtAudience, "vnc");
  assert.equal(c.jwtIssuer, "https://idp");
  assert.match(
    usage("--token-plugin JWTTokenApi --token-source k --jwt-secret-encoding hex 6080"),
    /--jwt-secret-encoding is base64url or raw, got "hex"/,
  );
  assert.match(
    usage("--token-plugin TokenFile --token-source t --jwt-audience vnc 6080"),
    /--jwt-audience applies to --token-plugin JWTTokenApi only/,
  );
  assert.match(usage("--jwt-issuer x 6080 h:1"), /--jwt-issuer needs --token-plugin/);
});

Deno.test("--accept-proxy-protocol: CIDR blocks, addresses and unix, repeated or comma-separated", () => {
  const c = run(
    "--accept-proxy-protocol 10.0.0.0/24,unix --accept-proxy-protocol 2001:db8::1 6080 h:5900",
  );
  assert.deepEqual(c.acceptProxyProtocol, ["10.0.0.0/24", "unix", "2001:db8::1"]);
  assert.deepEqual(run("6080 h:5900").acceptProxyProtocol, []);
  assert.match(usage("--accept-proxy-protocol lb.example 6080 h:5900"), /not an IP address/);
  assert.match(usage("--accept-proxy-protocol 10.0.0.0/33 6080 h:5900"), /"unix" for unix-socket/);
});

Deno.test("--view-only and --clipboard make Config.rfbPolicy; without them there is none", () => {
  assert.equal(run("6080 h:5900").rfbPolicy, undefined);
  assert.deepEqual(run("--view-only 6080 h:5900").rfbPolicy, { viewOnly: true, clipboard: "both" });
  assert.deepEqual(run("--clipboard to-client 6080 h:5900").rfbPolicy, {
    viewOnly: false,
    clipboard: "to-client",
  });
  assert.deepEqual(run("--view-only --clipboard none 6080 h:5900").rfbPolicy, {
    viewOnly: true,
    clipboard: "none",
  });
  assert.match(usage("--clipboard sideways 6080 h:5900"), /--clipboard.*to-client/);
});
