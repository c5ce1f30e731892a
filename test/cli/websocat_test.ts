/** `vncws bridge` takes websocat's spellings of what it does, and names the ones it does not. */
import assert from "node:assert/strict";
import { type BridgeCommand, parseBridgeArgs } from "../../src/cli/bridge.ts";
import { UsageError } from "../../src/cli/values.ts";
import type { BridgeConfig } from "../../src/config/bridge.ts";

function run(argv: string[]): BridgeConfig {
  const cmd: BridgeCommand = parseBridgeArgs(argv);
  assert.equal(cmd.kind, "run", argv.join(" "));
  return (cmd as { config: BridgeConfig }).config;
}

function usage(argv: string[]): string {
  try {
    parseBridgeArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) return e.message;
    throw e;
  }
  throw new Error(`accepted: ${argv.join(" ")}`);
}

const URL_ = "wss://host/websockify";

Deno.test("websocat: -b/--binary and -E/--exit-on-eof are accepted and change nothing", () => {
  const plain = run(["5901", URL_]);
  for (const extra of [["-b"], ["--binary"], ["-E"], ["--exit-on-eof"], ["-bE"], ["-b", "-E"]]) {
    assert.deepEqual(run([...extra, "5901", URL_]), plain, extra.join(" "));
  }
  // -k and -H combine with them as in websocat.
  const c = run(["-bEk", "-H", "X-A: 1", "5901", URL_]);
  assert.equal(c.insecure, true);
  assert.deepEqual(c.headers, [["X-A", "1"]]);
});

Deno.test("websocat: tcp-listen:ADDR (and tcp-l:, l-tcp:) is the listen argument", () => {
  const want = { kind: "tcp", hostname: "127.0.0.1", port: 5901 };
  for (const spelling of ["tcp-listen", "tcp-l", "l-tcp"]) {
    assert.deepEqual(run([`${spelling}:127.0.0.1:5901`, URL_]).listen, want, spelling);
  }
  assert.deepEqual(run(["tcp-listen:[::1]:5901", URL_]).listen, {
    kind: "tcp",
    hostname: "::1",
    port: 5901,
  });
  // A bare port stays on loopback, as the bridge's own form.
  assert.deepEqual(run(["tcp-l:5901", URL_]).listen, want);
  // The blog-post form: websocat's flags and address after `vncws bridge`.
  const c = run(["-b", "-E", "--protocol", "binary", "tcp-l:127.0.0.1:5901", URL_]);
  assert.deepEqual(c.listen, want);
  assert.equal(c.protocols, "binary");
  assert.match(usage(["tcp-listen:127.0.0.1:99999", URL_]), /1 to 65535/);
  assert.match(usage(["tcp-listen:5901", "6000", URL_]), /unexpected argument|only one of/);
  assert.match(usage(["tcp-listen:5901", "--stdio", URL_]), /only one of/);
});

Deno.test("websocat: unix-listen:PATH, - and --oneshot", () => {
  assert.deepEqual(run(["unix-listen:/tmp/b.sock", URL_]).listen, {
    kind: "unix",
    path: "/tmp/b.sock",
  });
  assert.deepEqual(run(["-", URL_]).listen, { kind: "stdio" });
  assert.equal(run(["--oneshot", "5901", URL_]).once, true);
  assert.equal(run(["5901", URL_]).once, false);
  assert.match(
    usage(["--unix-listen", "/tmp/a", "unix-l:/tmp/b", URL_]),
    /--unix-listen PATH only once/,
  );
});

Deno.test("websocat options the bridge lacks are named in the error", () => {
  const table: Array<[string[], RegExp]> = [
    [["-t", "5901", URL_], /^websocat's -t \(--text\) is not supported by vncws bridge; .*binary/],
    [["--text", "5901", URL_], /websocat's -t \(--text\) is not supported/],
    [["-s", "5901"], /websocat's -s \(--server-mode\) is not supported.*vncws PORT HOST:PORT/],
    [["-u", "5901", URL_], /websocat's -u \(--unidirectional\) is not supported/],
    [["--tls-domain", "h", "5901", URL_], /websocat's --tls-domain .*use --sni NAME/],
    [["--tls-domain=h", "5901", URL_], /websocat's --tls-domain/],
    [["-bt", "5901", URL_], /websocat's -t \(--text\)/],
    [["5901", URL_, "--jsonrpc"], /websocat's --jsonrpc/],
  ];
  for (const [argv, want] of table) assert.match(usage(argv), want, argv.join(" "));
  // An address type it does not have, named too.
  assert.match(
    usage(["tcp:127.0.0.1:5900", URL_]),
    /websocat's address type tcp: is not supported/,
  );
  assert.match(usage(["ws-l:0.0.0.0:80", URL_]), /address type ws-l:/);
  // Not websocat's: the usual unknown-option hint, and a host:port stays a listen address.
  assert.match(
    usage(["--protocl", "x", "5901", URL_]),
    /unknown option --protocl \(did you mean --protocol\?\)/,
  );
  assert.deepEqual(run(["localhost:5901", URL_]).listen, {
    kind: "tcp",
    hostname: "localhost",
    port: 5901,
  });
});
