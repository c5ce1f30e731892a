/**
 * NodeSocketStream over a plain node:net socket (as the bridge's wss:// and
 * systemd's inherited listener use it): reads, half-close, backpressure at
 * the high-water mark, and the ends after close().
 */
import assert from "node:assert/strict";
import net from "node:net";
import { NodeSocketStream, StreamClosedError } from "../../src/net/node_stream.ts";
import { readExactly, readToEof, waitUntil, writeAll } from "../../scripts/testing/util.ts";

const until = (cond: () => boolean, what: string) => waitUntil(cond, what, 10_000, 25);

const opts = { sanitizeOps: false, sanitizeResources: false };

/** A node server on 127.0.0.1; the first accepted socket is wrapped, the Deno side returned. */
async function pair(
  highWaterMark?: number,
): Promise<{ stream: NodeSocketStream; peer: Deno.TcpConn; close(): void }> {
  const server = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
  const peer = await Deno.connect({ hostname: "127.0.0.1", port });
  const stream = new NodeSocketStream(await accepted, { highWaterMark });
  return {
    stream,
    peer,
    close() {
      stream.close();
      try {
        peer.close();
      } catch { /* closed by the test */ }
      server.close();
    },
  };
}

Deno.test({
  name: "NodeSocketStream: bytes both ways, half-close both ways",
  ...opts,
  async fn() {
    const { stream, peer, close } = await pair();
    try {
      assert.match(stream.peer, /^127\.0\.0\.1:\d+$/);
      await writeAll(peer, new TextEncoder().encode("abc"));
      await writeAll(peer, new TextEncoder().encode("def"));
      await peer.closeWrite();
      assert.equal(new TextDecoder().decode(await readToEof(stream)), "abcdef");
      assert.equal(await stream.read(new Uint8Array(16)), null);

      await stream.writeAll(new TextEncoder().encode("reply"));
      await stream.closeWrite();
      assert.equal(new TextDecoder().decode(await readToEof(peer)), "reply");
    } finally {
      close();
    }
  },
});

Deno.test({
  name: "NodeSocketStream: pauses the socket above the high-water mark, resumes as reads drain",
  ...opts,
  async fn() {
    const { stream, peer, close } = await pair(64 * 1024);
    try {
      const data = new Uint8Array(4 * 1024 * 1024).map((_, i) => i % 251);
      const sending = writeAll(peer, data);
      await until(() => (stream.socket as net.Socket).isPaused(), "the socket paused");
      const got = await readExactly(stream, data.length);
      await sending;
      assert.deepEqual(got, data);
      assert.equal((stream.socket as net.Socket).isPaused(), false);
    } finally {
      close();
    }
  },
});

Deno.test({
  name: "NodeSocketStream: close() ends a pending read, later writes reject",
  ...opts,
  async fn() {
    const { stream, peer, close } = await pair();
    try {
      const reading = stream.read(new Uint8Array(16));
      stream.close();
      assert.equal(await reading, null);
      await assert.rejects(stream.writeAll(new Uint8Array([1])), StreamClosedError);
      assert.deepEqual(await readToEof(peer), new Uint8Array(0));
    } finally {
      close();
    }
  },
});
