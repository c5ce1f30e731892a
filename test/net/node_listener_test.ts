/** The node:net listener: Deno shapes, errors as Deno errors, sockets handed over with their bytes. */
import assert from "node:assert/strict";
import { acceptQueue, listenQueue, openNodeListener } from "../../src/net/node_listener.ts";
import { DenoStream, PrefixedStream } from "../../src/net/stream.ts";
import { readExactly } from "../_util.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "openNodeListener: a port in use is Deno.errors.AddrInUse",
  ...opts,
  async fn() {
    using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (taken.addr as Deno.NetAddr).port;
    await assert.rejects(
      openNodeListener({ hostname: "127.0.0.1", port }),
      (e) => e instanceof Deno.errors.AddrInUse,
    );
  },
});

Deno.test({
  name: "openNodeListener: a bare port accepts IPv4 and IPv6 clients",
  ...opts,
  async fn() {
    const listener = await openNodeListener({ hostname: "", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    try {
      for (const hostname of ["127.0.0.1", "::1"]) {
        const accepted = listener.accept();
        let client: Deno.TcpConn;
        try {
          client = await Deno.connect({ hostname, port });
        } catch (e) {
          if (hostname === "::1") continue; // no IPv6 loopback on this machine
          throw e;
        }
        const conn = new DenoStream(await accepted);
        await client.write(new TextEncoder().encode("hi"));
        assert.equal(new TextDecoder().decode(await readExactly(conn, 2)), "hi");
        conn.close();
        client.close();
      }
    } finally {
      listener.close();
    }
  },
});

Deno.test({
  name: "takeSocket: the node socket comes with the sniffed prefix and the unread bytes",
  ...opts,
  async fn() {
    const listener = await openNodeListener({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    try {
      const accepted = listener.accept();
      const client = await Deno.connect({ hostname: "127.0.0.1", port });
      await client.write(new TextEncoder().encode("abcdef"));
      const stream = new DenoStream(await accepted);
      const first = new Uint8Array(2);
      // Wait until all six bytes are in: two read, four queued.
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(await stream.read(first), 2);
      const taken = new PrefixedStream(stream, first).takeSocket();
      assert.ok(taken, "a node:net connection has a socket to give");
      assert.equal(new TextDecoder().decode(taken.buffered), "abcdef");
      // The stream let go without closing: the socket still works.
      stream.close();
      const back = new Promise<string>((resolve) => {
        taken.socket.once("data", (d: Uint8Array) => resolve(new TextDecoder().decode(d)));
      });
      taken.socket.resume();
      await client.write(new TextEncoder().encode("more"));
      assert.equal(await back, "more");
      taken.socket.destroy();
      client.close();
      // A Deno conn has no node socket to give.
      using plain = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const pa = plain.accept();
      const c2 = await Deno.connect({ hostname: "127.0.0.1", port: plain.addr.port });
      const denoSide = new DenoStream(await pa);
      assert.equal(denoSide.takeSocket(), undefined);
      denoSide.close();
      c2.close();
    } finally {
      listener.close();
    }
  },
});

Deno.test("listenQueue: the accept backlog of the listeners on a port, from /proc/net/tcp", () => {
  const text = [
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid",
    "   0: 0100007F:3E80 00000000:0000 0A 00000000:00000018 00:00000000 00000000     0",
    "   1: 0100007F:3E81 00000000:0000 0A 00000000:00000005 00:00000000 00000000     0",
    "   2: 0100007F:3E80 0100007F:9C40 01 00000000:00000007 00:00000000 00000000     0",
  ].join("\n");
  assert.equal(listenQueue(text, 0x3e80), 24); // the established line (st 01) does not count
  assert.equal(listenQueue(text, 0x3e81), 5);
  assert.equal(listenQueue(text, 80), 0);
});

Deno.test({
  name: "acceptQueue: connections not yet accepted are counted",
  ...opts,
  async fn() {
    using l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = l.addr.port;
    assert.equal(acceptQueue(port), 0);
    const a = await Deno.connect({ hostname: "127.0.0.1", port });
    const b = await Deno.connect({ hostname: "127.0.0.1", port });
    assert.equal(acceptQueue(port), 2);
    a.close();
    b.close();
  },
});
