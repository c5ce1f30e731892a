import assert from "node:assert/strict";
import { formatTarget, type Target } from "../../src/net/address.ts";
import { ConnectError, connectTarget } from "../../src/net/connect.ts";
import { freePort } from "../../scripts/testing/util.ts";

Deno.test("a checked target connects to its addresses, names itself by its name, verifies TLS against it", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const accepted = listener.accept();
  // What the target policy returns for "desk.example" resolving to 127.0.0.1.
  const target: Target = {
    kind: "tcp",
    hostname: "127.0.0.1",
    port,
    tls: true,
    name: "desk.example",
  };
  assert.equal(formatTarget(target), `tls:desk.example:${port}`);
  const servernames: string[] = [];
  const stream = await connectTarget(target, {
    tls: (tcp, servername) => {
      servernames.push(servername);
      tcp.close();
      return Promise.reject(new Error("no TLS here"));
    },
  }).catch((e) => e);
  assert.ok(stream instanceof ConnectError);
  assert.deepEqual(servernames, ["desk.example"]);
  (await accepted).close();
  listener.close();
});

Deno.test("without a name, logs and TLS use the host as given; a failure names the target", async () => {
  const target: Target = { kind: "tcp", hostname: "127.0.0.1", port: freePort() };
  assert.equal(formatTarget(target), `127.0.0.1:${target.port}`);
  await assert.rejects(
    () => connectTarget({ ...target, name: "desk.example" }),
    new RegExp(`cannot connect to desk\\.example:${target.port}: connection refused`),
  );
  await assert.rejects(
    () => connectTarget(target),
    new RegExp(`cannot connect to 127\\.0\\.0\\.1:${target.port}: connection refused`),
  );
});
