import assert from "node:assert/strict";
import {
  encodeServerInit,
  parseServerInitHead,
  parseVersion,
  serverHandshake,
} from "../../src/rfb/handshake.ts";
import { RfbEndOfStream, RfbProtocolError, RfbReader } from "../../src/rfb/reader.ts";
import { ScriptedStream } from "./_scripted_stream.ts";

const te = new TextEncoder();
const PF = [32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0];
const INIT = encodeServerInit({
  width: 640,
  height: 480,
  pixelFormat: new Uint8Array(PF),
  name: "d",
});
const OPTIONS = { serverInit: INIT, refusal: "None only" };
const be32 = (n: number) => [(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];

function handshake(input: number[], chunk = Infinity) {
  const stream = new ScriptedStream(input, chunk);
  return { stream, result: serverHandshake(stream, new RfbReader(stream), OPTIONS) };
}

Deno.test("parseVersion: 3.3, 3.7, 3.8; other minors rounded as RFC 6143 says; junk undefined", () => {
  const v = (s: string) => parseVersion(te.encode(s));
  assert.equal(v("RFB 003.003\n"), 3);
  assert.equal(v("RFB 003.005\n"), 3);
  assert.equal(v("RFB 003.007\n"), 7);
  assert.equal(v("RFB 003.008\n"), 8);
  assert.equal(v("RFB 003.889\n"), 8);
  assert.equal(v("RFB 004.001\n"), undefined);
  assert.equal(v("GET / HTTP/1"), undefined);
  assert.equal(v("RFB 003.008"), undefined);
});

Deno.test("encodeServerInit / parseServerInitHead round trip", () => {
  assert.equal(INIT.length, 25);
  assert.deepEqual([...INIT.subarray(4, 20)], PF);
  assert.deepEqual(parseServerInitHead(INIT), { width: 640, height: 480, nameLength: 1 });
  assert.equal(INIT[24], "d".charCodeAt(0));
});

for (const chunk of [Infinity, 1]) {
  Deno.test(`serverHandshake: 3.8 client gets None, SecurityResult OK, ServerInit (reads of ${chunk})`, async () => {
    const { stream, result } = handshake([...te.encode("RFB 003.008\n"), 1, 0], chunk);
    assert.deepEqual(await result, { ok: true, minor: 8, shared: false });
    assert.deepEqual(
      stream.output(),
      new Uint8Array([...te.encode("RFB 003.008\n"), 1, 1, ...be32(0), ...INIT]),
    );
  });
}

Deno.test("serverHandshake: 3.7 has no SecurityResult; 3.3 gets the type as a u32", async () => {
  const h7 = handshake([...te.encode("RFB 003.007\n"), 1, 1]);
  assert.deepEqual(await h7.result, { ok: true, minor: 7, shared: true });
  assert.deepEqual(
    h7.stream.output(),
    new Uint8Array([...te.encode("RFB 003.008\n"), 1, 1, ...INIT]),
  );
  const h3 = handshake([...te.encode("RFB 003.003\n"), 1]);
  assert.deepEqual(await h3.result, { ok: true, minor: 3, shared: true });
  assert.deepEqual(
    h3.stream.output(),
    new Uint8Array([...te.encode("RFB 003.008\n"), ...be32(1), ...INIT]),
  );
});

Deno.test("serverHandshake: another security type is refused, with the reason for 3.8 only", async () => {
  const h8 = handshake([...te.encode("RFB 003.008\n"), 2]);
  assert.deepEqual(await h8.result, { ok: false, minor: 8, chosen: 2 });
  const reason = te.encode("None only");
  assert.deepEqual(
    h8.stream.output(),
    new Uint8Array([
      ...te.encode("RFB 003.008\n"),
      1,
      1,
      ...be32(1),
      ...be32(reason.length),
      ...reason,
    ]),
  );
  const h7 = handshake([...te.encode("RFB 003.007\n"), 2]);
  assert.deepEqual(await h7.result, { ok: false, minor: 7, chosen: 2 });
  assert.deepEqual(h7.stream.output(), new Uint8Array([...te.encode("RFB 003.008\n"), 1, 1]));
});

Deno.test("serverHandshake: a bad version string is a protocol error naming it; nothing more is sent", async () => {
  const { stream, result } = handshake([...te.encode("GET / HTTP/1.1\r\n")]);
  await assert.rejects(
    result,
    (e) => e instanceof RfbProtocolError && /"GET \/ HTTP\/1"/.test(e.message),
  );
  assert.deepEqual(stream.output(), te.encode("RFB 003.008\n"));
});

Deno.test("serverHandshake: a client that hangs up mid-handshake is RfbEndOfStream", async () => {
  for (
    const input of [[...te.encode("RFB 003")], [...te.encode("RFB 003.008\n")], [
      ...te.encode("RFB 003.008\n"),
      1,
    ]]
  ) {
    await assert.rejects(handshake(input, 1).result, RfbEndOfStream, JSON.stringify(input));
  }
});
