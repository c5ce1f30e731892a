/** The node:net listener: Deno shapes, errors as Deno errors, sockets handed over with their bytes. */
import assert from "node:assert/strict";
import net from "node:net";
// The /proc/net/tcp parsing itself is tested in test/base/procfs_test.ts.
import {
  acceptQueue,
  NodeListener,
  openNodeListener,
  ownListenInode,
} from "../../src/net/node_listener.ts";
import { DenoStream, PrefixedStream } from "../../src/net/stream.ts";
import { readExactly } from "../../scripts/testing/util.ts";
import { sleep } from "../../src/base/time.ts";

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
      await sleep(100);
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

Deno.test({
  name: "acceptQueue and ownListenInode: our listener's waiting connections, not another's",
  ...opts,
  async fn() {
    const listener = await openNodeListener({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    try {
      const ours = ownListenInode(port);
      assert.ok(ours, "our listening socket is found among our fds");
      // Another listener on the same port (another address) with two connections waiting.
      using other = Deno.listen({ hostname: "127.0.0.2", port });
      const a = await Deno.connect({ hostname: "127.0.0.2", port });
      const b = await Deno.connect({ hostname: "127.0.0.2", port });
      assert.equal(acceptQueue(port), 2);
      assert.equal(acceptQueue(port, ours), 0);
      a.close();
      b.close();
      other.close();
    } finally {
      listener.close();
    }
    assert.equal(ownListenInode(port), undefined);
  },
});

Deno.test({
  name: "NodeListener watchdog: a healthy listener is never restarted for another's queue",
  ...opts,
  async fn() {
    const server = net.createServer({ allowHalfOpen: true });
    await new Promise<void>((r) => server.listen({ host: "127.0.0.1", port: 0 }, () => r()));
    const port = (server.address() as net.AddressInfo).port;
    let relistens = 0;
    const listener = new NodeListener(server, {
      relisten: () => {
        relistens++;
        return Promise.reject(new Error("not expected"));
      },
      watchIntervalMs: 50,
    });
    using other = Deno.listen({ hostname: "127.0.0.2", port });
    const waiting = [
      await Deno.connect({ hostname: "127.0.0.2", port }),
      await Deno.connect({ hostname: "127.0.0.2", port }),
    ];
    try {
      await sleep(400); // 8 checks
      assert.equal(relistens, 0);
    } finally {
      for (const c of waiting) c.close();
      other.close();
      listener.close();
    }
  },
});
