/** PendingReadStream: a read already under way comes first, then the inner stream's reads, directly. */
import assert from "node:assert/strict";
import { memoryPair } from "../../src/net/memory_stream.ts";
import { PendingReadStream } from "../../src/net/pending_read.ts";
import type { ByteStream } from "../../src/net/stream.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("PendingReadStream: the pending read's bytes first, then the inner stream's", async () => {
  const [a, b] = memoryPair();
  const first = new Uint8Array(16);
  const pending = a.read(first);
  const seen: string[] = [];
  const stream = new PendingReadStream(a, pending, first, (bytes) => seen.push(dec.decode(bytes)));
  await b.writeAll(enc.encode("hello"));
  const buf = new Uint8Array(3);
  assert.equal(dec.decode(buf.subarray(0, (await stream.read(buf))!)), "hel");
  assert.equal(dec.decode(buf.subarray(0, (await stream.read(buf))!)), "lo");
  await b.writeAll(enc.encode("next"));
  const big = new Uint8Array(16);
  assert.equal(dec.decode(big.subarray(0, (await stream.read(big))!)), "next");
  assert.deepEqual(seen, ["hello"], "onFirst once, with the pending read's bytes");
  await b.closeWrite();
  assert.equal(await stream.read(big), null);
  a.close();
});

Deno.test("PendingReadStream: once the pending bytes are consumed, reads are the inner stream's own", async () => {
  const [a, b] = memoryPair();
  const first = new Uint8Array(16);
  const pending = a.read(first);
  await b.writeAll(enc.encode("x"));
  const inner: ByteStream = {
    peer: a.peer,
    read: (buf) => a.read(buf),
    writeAll: (d) => a.writeAll(d),
    closeWrite: () => a.closeWrite(),
    close: () => a.close(),
  };
  const stream = new PendingReadStream(inner, pending, first);
  assert.equal(await stream.read(new Uint8Array(4)), 1);
  // No wrapper promise per read (the bridge reads its local side through this all session).
  const direct = Promise.resolve(null);
  inner.read = () => direct;
  assert.equal(stream.read(new Uint8Array(4)), direct);
  a.close();
  b.close();
});

Deno.test("PendingReadStream: a pending read that ends the stream is an EOF", async () => {
  const [a, b] = memoryPair();
  const first = new Uint8Array(16);
  const pending = a.read(first);
  await b.closeWrite();
  const stream = new PendingReadStream(a, pending, first);
  assert.equal(await stream.read(new Uint8Array(4)), null);
  a.close();
});
