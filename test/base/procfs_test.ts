import assert from "node:assert/strict";
import {
  listenQueue,
  parseTcpListeners,
  socketInodes,
  tcpListeners,
} from "../../src/base/procfs.ts";

const HEAD =
  "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";

Deno.test("listenQueue: the accept backlog of the listeners on a port, from /proc/net/tcp", () => {
  const text = [
    HEAD,
    "   0: 0100007F:3E80 00000000:0000 0A 00000000:00000018 00:00000000 00000000     0        0 1111",
    "   1: 0200007F:3E80 00000000:0000 0A 00000000:00000003 00:00000000 00000000     0        0 2222",
    "   2: 0100007F:3E81 00000000:0000 0A 00000000:00000005 00:00000000 00000000     0        0 3333",
    "   3: 0100007F:3E80 0100007F:9C40 01 00000000:00000007 00:00000000 00000000     0        0 4444",
  ].join("\n");
  const listeners = parseTcpListeners(text);
  // Both listeners on the port (127.0.0.1 and 127.0.0.2); the established line does not count.
  assert.equal(listenQueue(listeners, 0x3e80), 27);
  assert.equal(listenQueue(listeners, 0x3e80, 1111), 24); // ours only
  assert.equal(listenQueue(listeners, 0x3e81), 5);
  assert.equal(listenQueue(listeners, 80), 0);
});

Deno.test("parseTcpListeners: fields of LISTEN lines, IPv6 addresses, junk lines skipped", () => {
  const v6 = [
    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
    "   0: 00000000000000000000000001000000:170C 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 98765 1 0000000000000000 100 0 0 10 0",
    "",
    "garbage",
    "   1: 00000000000000000000000001000000:170C 00000000000000000000000001000000:D2F0 01 00000000:00000000 00:00000000 00000000  1000        0 98766 1",
  ].join("\n");
  assert.deepEqual(parseTcpListeners(v6, 6), [{
    family: 6,
    address: "00000000000000000000000001000000",
    port: 5900,
    inode: 98765,
    queued: 0,
  }]);
  assert.deepEqual(parseTcpListeners(HEAD), []);
  assert.deepEqual(parseTcpListeners(""), []);
});

Deno.test("tcpListeners and socketInodes: our own listening socket is found", () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const found = tcpListeners(port);
  assert.equal(found.length, 1, JSON.stringify(found));
  assert.deepEqual([found[0].family, found[0].address, found[0].port], [4, "0100007F", port]);
  assert.ok(socketInodes("self").has(found[0].inode), "its inode is among our fds");
  assert.ok(socketInodes(Deno.pid).has(found[0].inode), "also by our pid");
  listener.close();
  assert.deepEqual(tcpListeners(port), []);
  assert.equal(socketInodes(0x7ffffffe).size, 0, "no such process: nothing");
});
