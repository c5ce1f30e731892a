import assert from "node:assert/strict";
import { RfbEndOfStream, RfbReader } from "../../src/rfb/reader.ts";
import { ScriptedStream } from "./_scripted_stream.ts";

Deno.test("RfbReader: exact takes across one-byte reads, and past the buffer size", async () => {
  const bytes = Array.from({ length: 300 }, (_, i) => i & 0xff);
  const r = new RfbReader(new ScriptedStream(bytes, 1), 16);
  assert.deepEqual([...await r.take(3)], [0, 1, 2]);
  assert.equal(await r.u8(), 3);
  assert.equal((await r.view(2)).getUint16(0), 0x0405);
  // Bigger than the 16-byte buffer: it grows.
  const big = await r.take(100);
  assert.equal(big.length, 100);
  assert.equal(big[0], 6);
  assert.equal(big[99], 105);
  const rest = await r.take(194);
  assert.equal(rest[193], 299 & 0xff);
});

Deno.test("RfbReader: a stream that ends inside a field rejects with RfbEndOfStream", async () => {
  const r = new RfbReader(new ScriptedStream([1, 2, 3], 2));
  await assert.rejects(r.take(4), RfbEndOfStream);
  const empty = new RfbReader(new ScriptedStream([]));
  await assert.rejects(empty.u8(), RfbEndOfStream);
});

Deno.test("RfbReader.some: buffered bytes first, then one read at a time, null at the end", async () => {
  const r = new RfbReader(new ScriptedStream([1, 2, 3, 4, 5, 6], 4));
  assert.equal(await r.u8(), 1); // reads 1..4, keeps 2..4
  assert.deepEqual([...(await r.some())!], [2, 3, 4]);
  assert.deepEqual([...(await r.some())!], [5, 6]);
  assert.equal(await r.some(), null);
});
