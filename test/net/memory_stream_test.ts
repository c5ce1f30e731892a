/** The in-memory stream pair behaves like a connected socket pair. */
import assert from "node:assert/strict";
import { memoryPair } from "../../src/net/memory_stream.ts";
import type { ByteStream } from "../../src/net/stream.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

async function readAll(s: ByteStream): Promise<string> {
  const buf = new Uint8Array(7);
  let out = "";
  for (let n = await s.read(buf); n !== null; n = await s.read(buf)) {
    out += dec.decode(buf.subarray(0, n));
  }
  return out;
}

/** Whether `p` is still pending after the event loop had a few turns. */
async function pending(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => done = true, () => done = true);
  await new Promise((r) => setTimeout(r, 10));
  return !done;
}

Deno.test("memoryPair: bytes flow both ways in order; the writer's buffer may be reused", async () => {
  const [a, b] = memoryPair();
  const data = enc.encode("hello, world");
  await a.writeAll(data);
  data.fill(0); // a socket copied the bytes when the write resolved; so does the pair
  await a.writeAll(enc.encode("!"));
  await b.writeAll(enc.encode("back"));
  const buf = new Uint8Array(5);
  assert.equal(await b.read(buf), 5);
  assert.equal(dec.decode(buf), "hello");
  await a.closeWrite();
  assert.equal(await readAll(b), ", world!");
  const back = new Uint8Array(10);
  const n = await a.read(back);
  assert.equal(dec.decode(back.subarray(0, n!)), "back");
  assert.equal([a.peer, b.peer].join(" "), "memory:a memory:b");
});

Deno.test("memoryPair: after closeWrite the peer reads null, and can still write back", async () => {
  const [a, b] = memoryPair();
  const read = b.read(new Uint8Array(4));
  assert.ok(await pending(read), "a read waits for bytes");
  await a.closeWrite();
  assert.equal(await read, null);
  assert.equal(await b.read(new Uint8Array(4)), null);
  await assert.rejects(a.writeAll(enc.encode("x")), /closeWrite/);
  await b.writeAll(enc.encode("still"));
  b.close();
  assert.equal(await readAll(a), "still");
});

Deno.test("memoryPair: close ends the peer's reads and makes its writes reject", async () => {
  const [a, b] = memoryPair();
  await a.writeAll(enc.encode("last"));
  const ownRead = a.read(new Uint8Array(4));
  a.close();
  a.close(); // twice is fine
  assert.equal(a.closed, true);
  await assert.rejects(ownRead, /closed/);
  await assert.rejects(a.read(new Uint8Array(4)), /closed/);
  await assert.rejects(a.writeAll(enc.encode("x")), /closed/);
  // The peer still gets what was sent before the close, then the end.
  assert.equal(await readAll(b), "last");
  await assert.rejects(b.writeAll(enc.encode("to nobody")), /broken pipe/);
});

Deno.test("memoryPair: a writer waits while the reader does not read (backpressure)", async () => {
  const [a, b] = memoryPair({ capacity: 8 });
  assert.equal(await pending(a.writeAll(enc.encode("12345678"))), false, "fits the buffer");
  const blocked = a.writeAll(enc.encode("abcdef"));
  assert.ok(await pending(blocked), "a full buffer holds the writer");
  const buf = new Uint8Array(4);
  assert.equal(await b.read(buf), 4);
  assert.ok(await pending(blocked), "4 bytes of room are not enough for 6");
  assert.equal(await b.read(buf), 4);
  await blocked;
  await a.closeWrite();
  assert.equal(await readAll(b), "abcdef");
});

Deno.test("memoryPair: a writer held by backpressure fails when the reader closes", async () => {
  const [a, b] = memoryPair({ capacity: 4 });
  const blocked = a.writeAll(enc.encode("too much data"));
  assert.ok(await pending(blocked));
  b.close();
  await assert.rejects(blocked, /broken pipe/);
});

Deno.test("memoryPair: capacity must be positive", () => {
  assert.throws(() => memoryPair({ capacity: 0 }), /capacity/);
});
