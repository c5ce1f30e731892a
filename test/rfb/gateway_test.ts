import assert from "node:assert/strict";
import { concatBytes, u32be } from "../../src/base/bytes.ts";
import { memoryPair } from "../../src/net/memory_stream.ts";
import { RfbGatewayStream } from "../../src/rfb/gateway.ts";
import { RfbReader } from "../../src/rfb/reader.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const SERVER_INIT = concatBytes([
  new Uint8Array([1, 64, 0, 200]),
  new Uint8Array(16),
  u32be(4),
  enc.encode("desk"),
]);

/** A gateway over one end of an in-memory pair; `server` is the VNC server's end. */
function setup(failure?: string) {
  const [server, vncws] = memoryPair({ names: ["server", "vncws"] });
  const gw = new RfbGatewayStream(vncws, failure);
  return { server, gw, viewer: new RfbReader(gw), serverReader: new RfbReader(server) };
}

async function reason(r: RfbReader): Promise<string> {
  return dec.decode(await r.take(await r.u32()));
}

for (const minor of [8, 7, 3] as const) {
  Deno.test(`gateway: a ${minor === 3 ? "3.3" : `3.${minor}`} viewer gets None, its ClientInit reaches the server, ServerInit passes back`, async () => {
    const { server, gw, viewer, serverReader } = setup();
    assert.equal(dec.decode(await viewer.take(12)), "RFB 003.008\n");
    await gw.writeAll(enc.encode(`RFB 003.00${minor}\n`));
    if (minor === 3) {
      assert.equal(await viewer.u32(), 1); // the server picks None
    } else {
      assert.deepEqual(Array.from(await viewer.take(2)), [1, 1]); // one type: None
      await gw.writeAll(new Uint8Array([1]));
      if (minor === 8) assert.equal(await viewer.u32(), 0); // SecurityResult OK
    }
    assert.equal(gw.through, false);
    await gw.writeAll(new Uint8Array([1])); // ClientInit, shared
    assert.equal(gw.through, true);
    assert.deepEqual(Array.from(await serverReader.take(1)), [1]);
    await server.writeAll(SERVER_INIT);
    assert.deepEqual(await viewer.take(SERVER_INIT.length), SERVER_INIT);
    // From here on, both ways straight through.
    await gw.writeAll(new Uint8Array([3, 0, 0, 0]));
    assert.deepEqual(Array.from(await serverReader.take(4)), [3, 0, 0, 0]);
    gw.close();
    assert.equal(await server.read(new Uint8Array(8)), null);
  });
}

Deno.test("gateway: the viewer's version in pieces is parsed whole", async () => {
  const { gw, viewer } = setup();
  await viewer.take(12);
  for (const b of enc.encode("RFB 003.008\n")) await gw.writeAll(new Uint8Array([b]));
  assert.deepEqual(Array.from(await viewer.take(2)), [1, 1]);
  gw.close();
});

Deno.test("gateway: a viewer choosing another type than None is told why and the stream ends", async () => {
  const { gw, viewer } = setup();
  await viewer.take(12);
  await gw.writeAll(enc.encode("RFB 003.008\n"));
  await viewer.take(2);
  await gw.writeAll(new Uint8Array([2]));
  assert.equal(await viewer.u32(), 1); // SecurityResult failed
  assert.match(await reason(viewer), /None only/);
  assert.equal(await gw.read(new Uint8Array(4)), null);
  gw.close();
});

for (const minor of [8, 7] as const) {
  Deno.test(`gateway: refused (3.${minor}): zero security types and the reason, then the end`, async () => {
    const { gw, viewer } = setup("the VNC server refused the credentials");
    await viewer.take(12);
    await gw.writeAll(enc.encode(`RFB 003.00${minor}\n`));
    assert.equal(await viewer.u8(), 0);
    assert.equal(await reason(viewer), "the VNC server refused the credentials");
    assert.equal(await gw.read(new Uint8Array(4)), null);
    await gw.writeAll(new Uint8Array([1])); // later viewer bytes go nowhere
    gw.close();
  });
}

Deno.test("gateway: refused (3.3): security type 0 and the reason", async () => {
  const { gw, viewer } = setup("the VNC server refused the credentials");
  await viewer.take(12);
  await gw.writeAll(enc.encode("RFB 003.003\n"));
  assert.equal(await viewer.u32(), 0);
  assert.equal(await reason(viewer), "the VNC server refused the credentials");
  assert.equal(await gw.read(new Uint8Array(4)), null);
  gw.close();
});

Deno.test("gateway: a viewer that is not RFB gets nothing more (not even a reason)", async () => {
  const { gw, viewer } = setup();
  await viewer.take(12);
  await gw.writeAll(enc.encode("GET / HTTP/1.1\r\n"));
  assert.equal(await gw.read(new Uint8Array(4)), null);
  gw.close();
});

Deno.test("gateway: refused, a viewer that never sends its version is ended after the bound", async () => {
  const [, vncws] = memoryPair({ names: ["server", "vncws"] });
  const gw = new RfbGatewayStream(vncws, "refused", { failureTimeoutMs: 30 });
  const viewer = new RfbReader(gw);
  assert.equal(dec.decode(await viewer.take(12)), "RFB 003.008\n");
  // Silent: the next read fails once the bound passed (the relay then closes both sides).
  await assert.rejects(() => gw.read(new Uint8Array(4)), /did not finish the RFB handshake/);
  gw.close();
});

Deno.test("gateway: refused, a viewer that answers within the bound reads the reason and the end", async () => {
  const [, vncws] = memoryPair({ names: ["server", "vncws"] });
  const gw = new RfbGatewayStream(vncws, "refused", { failureTimeoutMs: 60_000 });
  const viewer = new RfbReader(gw);
  await viewer.take(12);
  await gw.writeAll(enc.encode("RFB 003.008\n"));
  assert.equal(await viewer.u8(), 0);
  assert.equal(await reason(viewer), "refused");
  assert.equal(await gw.read(new Uint8Array(4)), null);
  gw.close(); // and no timer is left running (the test's sanitizer checks)
});

Deno.test("gateway: authenticated, the bound does not apply (only a refusal is bounded)", async () => {
  const [server, vncws] = memoryPair({ names: ["server", "vncws"] });
  const gw = new RfbGatewayStream(vncws, undefined, { failureTimeoutMs: 1 });
  const viewer = new RfbReader(gw);
  await viewer.take(12);
  await new Promise((r) => setTimeout(r, 20));
  await gw.writeAll(enc.encode("RFB 003.008\n"));
  assert.deepEqual(Array.from(await viewer.take(2)), [1, 1]);
  gw.close();
  server.close();
});
