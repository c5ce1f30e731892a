/** `vncws bridge` argument parsing without processes. */
import assert from "node:assert/strict";
import { parseBridgeArgs, parseHeader } from "../../src/cli/bridge.ts";
import { UsageError } from "../../src/cli/values.ts";

function run(argv: string[], env: Record<string, string> = {}) {
  const cmd = parseBridgeArgs(argv, env);
  assert.equal(cmd.kind, "run");
  return (cmd as Extract<typeof cmd, { kind: "run" }>).config;
}

Deno.test("options before or after the positionals; bare port listens on loopback", () => {
  const a = run(["--protocol", "binary, vmware-vvc", "-k", "5900", "wss://h/ticket/X"]);
  const b = run(["5900", "wss://h/ticket/X", "-k", "--protocol", "binary, vmware-vvc"]);
  assert.deepEqual(a, b);
  assert.deepEqual(a.listen, { kind: "tcp", hostname: "127.0.0.1", port: 5900 });
  assert.equal(a.protocols, "binary, vmware-vvc");
  assert.equal(a.insecure, true);
  assert.deepEqual(run(["[::1]:5901", "ws://h/"]).listen, {
    kind: "tcp",
    hostname: "::1",
    port: 5901,
  });
  assert.deepEqual(run(["0.0.0.0:5901", "ws://h/"]).listen.kind, "tcp");
});

Deno.test("auth: flag, environment; defaults for timeouts and pings", () => {
  const c = run(["5900", "ws://h/"], { VNCWS_BRIDGE_AUTH: "u:p" });
  assert.equal(c.basicAuth, undefined);
  assert.equal(c.envAuth, "u:p");
  assert.equal(c.connectTimeout, 10);
  assert.equal(c.pingInterval, 0);
  assert.equal(run(["5900", "ws://h/", "--basic-auth", "a:b"]).basicAuth, "a:b");
  assert.equal(run(["5900", "ws://h/", "--ping-interval", "0.5"]).pingInterval, 0.5);
});

Deno.test("listen modes exclude each other; --url-command replaces the URL", () => {
  assert.deepEqual(run(["--stdio", "ws://h/"]).listen, { kind: "stdio" });
  assert.deepEqual(run(["--unix-listen", "/tmp/s", "ws://h/"]).listen, {
    kind: "unix",
    path: "/tmp/s",
  });
  assert.equal(run(["5900", "--url-command", "get-ticket"]).url, undefined);
  assert.throws(() => run(["5900", "--stdio", "ws://h/"]), /only one of/);
  assert.throws(() => run(["5900", "ws://h/", "--url-command", "x"]), /not both/);
  assert.throws(() => run(["5900", "ws://a/", "ws://b/"]), /more than one URL/);
  assert.throws(() => run(["5900", "6000", "ws://h/"]), /only one of|unexpected argument/);
  assert.throws(() => run(["99999", "ws://h/"]), /1 to 65535/);
});

Deno.test("headers: Name: value; the handshake's own headers are refused", () => {
  assert.deepEqual(parseHeader("X-Ticket:  abc "), ["X-Ticket", "abc"]);
  assert.deepEqual(parseHeader("Authorization: Bearer a:b"), ["Authorization", "Bearer a:b"]);
  assert.throws(() => parseHeader("Sec-WebSocket-Key: x"), /sets this header itself/);
  assert.throws(() => parseHeader("Sec-WebSocket-Protocol: binary"), /--protocol "binary"/);
  assert.throws(() => parseHeader("bad header: x"), UsageError);
});

Deno.test("help", () => {
  assert.deepEqual(parseBridgeArgs(["--help"]), { kind: "help" });
  assert.deepEqual(parseBridgeArgs(["5900", "-h"]), { kind: "help" });
});
