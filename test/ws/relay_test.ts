/**
 * The relay over real loopback sockets: bytes intact both ways while read
 * buffers grow, and the close frame after a protocol error survives a client
 * that is still sending (the linger).
 */
import assert from "node:assert/strict";
import {
  BULK_BUFFER,
  INITIAL_BUFFER,
  nextBufferSize,
  RELAY_BUFFER,
  relayWebSocket,
} from "../../src/ws/relay.ts";
import { DenoStream } from "../../src/net/stream.ts";
import { encodeFrame, FrameDecoder, Opcode } from "../../src/ws/frame.ts";
import { concatBytes, readToEof, writeAll } from "../../scripts/testing/util.ts";
import { memoryPair } from "../../src/net/memory_stream.ts";

Deno.test("nextBufferSize: a filled read steps 2 KiB → 64 KiB → 256 KiB, never shrinks", () => {
  assert.deepEqual(nextBufferSize(INITIAL_BUFFER, 100), INITIAL_BUFFER);
  assert.deepEqual(nextBufferSize(INITIAL_BUFFER, INITIAL_BUFFER), RELAY_BUFFER);
  assert.deepEqual(nextBufferSize(RELAY_BUFFER, RELAY_BUFFER - 1), RELAY_BUFFER);
  assert.deepEqual(nextBufferSize(RELAY_BUFFER, RELAY_BUFFER), BULK_BUFFER);
  assert.deepEqual(nextBufferSize(BULK_BUFFER, BULK_BUFFER), BULK_BUFFER);
  assert.deepEqual(nextBufferSize(BULK_BUFFER, 10), BULK_BUFFER);
});

/** Two connected loopback TCP sockets. */
async function socketPair(): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const a = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  return [a, await accepted];
}

/** Deterministic bytes: byte i of the stream is (i * 7 + i >> 11) & 0xff. */
function pattern(from: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    const p = from + i;
    out[i] = (p * 7 + (p >> 11)) & 0xff;
  }
  return out;
}

const TOTAL = 6 * 1024 * 1024;
/** Chunk sizes that cross every buffer step: tiny, exact steps, and bulk. */
const SIZES = [1, 2048, 2049, 65536, 300_000, 7, 262_144, 1_000_000];

Deno.test("relayWebSocket: 6 MiB each way arrives intact while the buffers grow", async () => {
  const [client, proxyClientSide] = await socketPair();
  const [proxyTargetSide, target] = await socketPair();
  // The buffer sizes the relay reads with, to see them grow.
  const clientReads = new Set<number>();
  const targetReads = new Set<number>();
  const spied = (conn: Deno.Conn, sizes: Set<number>) => {
    const stream = new DenoStream(conn);
    const read = stream.read.bind(stream);
    stream.read = (buf) => {
      sizes.add(buf.length);
      return read(buf);
    };
    return stream;
  };
  const relay = relayWebSocket(
    spied(proxyClientSide, clientReads),
    spied(proxyTargetSide, targetReads),
  );

  // Target → client: varied write sizes, then EOF.
  const targetWrites = (async () => {
    let sent = 0;
    for (let i = 0; sent < TOTAL; i++) {
      const len = Math.min(SIZES[i % SIZES.length], TOTAL - sent);
      await writeAll(target, pattern(sent, len));
      sent += len;
    }
  })();
  // Client → target: masked frames of varied sizes, several per write.
  const clientWrites = (async () => {
    let sent = 0;
    for (let i = 0; sent < TOTAL; i++) {
      const len = Math.min(SIZES[(i + 3) % SIZES.length], TOTAL - sent);
      const mask = new Uint8Array([i & 0xff, 0x5a, 0xa5, 0x3c]);
      await writeAll(client, encodeFrame(Opcode.Binary, pattern(sent, len), { mask }));
      sent += len;
    }
  })();
  // The target checks what it got, byte for byte.
  const targetChecks = (async () => {
    const buf = new Uint8Array(100_000);
    let got = 0;
    while (got < TOTAL) {
      const n = await target.read(buf);
      if (n === null) break;
      assert.deepEqual(buf.subarray(0, n), pattern(got, n), `up bytes at ${got}`);
      got += n;
    }
    return got;
  })();
  // The client decodes frames until the close frame.
  const clientChecks = (async () => {
    const decoder = new FrameDecoder({ expectMasked: false });
    const buf = new Uint8Array(100_000);
    let got = 0;
    let close = "";
    while (!close) {
      const n = await client.read(buf);
      if (n === null) break;
      decoder.push(buf.subarray(0, n));
      for (let ev = decoder.next(); ev !== null; ev = decoder.next()) {
        if (ev.kind === "data") {
          assert.deepEqual(ev.bytes, pattern(got, ev.bytes.length), `down bytes at ${got}`);
          got += ev.bytes.length;
        } else if (ev.kind === "close") {
          close = `${ev.code} ${ev.reason}`;
        }
      }
    }
    return { got, close };
  })();

  await Promise.all([clientWrites, targetWrites]);
  assert.deepEqual(await targetChecks, TOTAL);
  target.close(); // the target hangs up: the relay sends close 1000
  const down = await clientChecks;
  assert.deepEqual(down, { got: TOTAL, close: "1000 Target closed" });
  client.close();
  const result = await relay;
  assert.deepEqual([result.toTarget, result.toClient], [TOTAL, TOTAL]);
  // Both directions started small and reached the bulk size (down reads leave room for
  // the frame header in front, so their sizes are the body's).
  for (const sizes of [clientReads, targetReads]) {
    assert.ok(sizes.has(INITIAL_BUFFER) && sizes.has(BULK_BUFFER), [...sizes].join(","));
  }
});

Deno.test("relayWebSocket: after a protocol error the close frame reaches a client still sending", async () => {
  const [client, proxyClientSide] = await socketPair();
  const [targetRelay, targetSide] = memoryPair();
  // Counts of the relay's writes to the client begun and done, and their bytes.
  const down = { begun: 0, done: 0, bytes: 0 };
  const relay = relayWebSocket(new DenoStream(proxyClientSide), targetRelay, {
    record: { fromClient: () => {}, toClient: (d) => (down.begun++, down.bytes += d.length) },
    traffic: (symbol) => symbol === "<" && down.done++,
  });
  const targetGot = readToEof(targetSide);
  // 1 MiB toward a client that is not reading yet: most of it stays in the
  // relay's socket send queue, where our close frame will wait too.
  const DOWN = 1024 * 1024;
  await targetSide.writeAll(new Uint8Array(DOWN));
  while (down.bytes < DOWN || down.done < down.begun) await new Promise((r) => setTimeout(r, 5));
  // Bulk data, an unmasked (bad) frame, then more bulk the relay does not decode.
  // Without the linger the relay closes with that input unread, the kernel sends
  // RST and drops the send queue: the client never gets the close frame.
  const mask = new Uint8Array([1, 2, 3, 4]);
  const frame = encodeFrame(Opcode.Binary, new Uint8Array(64 * 1024), { mask });
  const bad = encodeFrame(Opcode.Binary, new Uint8Array(10));
  const bulk = (n: number) => Array.from({ length: n }, () => frame);
  try {
    await writeAll(client, concatBytes([...bulk(4), bad, ...bulk(16)]));
    await client.closeWrite();
  } catch { /* reset: the relay hung up on unread input */ }
  // Only now read, as a busy client does: the data, then the close frame.
  const decoder = new FrameDecoder({ expectMasked: false });
  const buf = new Uint8Array(65536);
  let got = 0;
  let close = "";
  try {
    for (let n = await client.read(buf); n !== null && !close; n = await client.read(buf)) {
      decoder.push(buf.subarray(0, n));
      for (let ev = decoder.next(); ev !== null; ev = decoder.next()) {
        if (ev.kind === "data") got += ev.bytes.length;
        if (ev.kind === "close") close = `${ev.code} ${ev.reason}`;
      }
    }
  } catch (e) {
    close = `read failed after ${got} bytes: ${e}`;
  }
  client.close();
  assert.equal(close, "1002 frame not masked");
  assert.equal(got, DOWN);
  const result = await relay;
  assert.equal(result.code, 1002);
  assert.equal((await targetGot).length, 4 * 64 * 1024, "the bytes before the bad frame");
});
