/**
 * A unix datagram receiver for tests, in a real process (/usr/bin/python3):
 * prints "ready", then one hex line per datagram.
 * @module
 */
import { startProcess } from "../../scripts/testing/util.ts";
import type { Proc } from "../../scripts/testing/util.ts";
import { sleep } from "../../src/base/time.ts";

const SCRIPT = `
import socket, sys
name = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\\0" + name[1:] if name.startswith("@") else name)
print("ready", flush=True)
while True:
    print(s.recv(65536).hex(), flush=True)
`;

/** A running receiver. */
export interface DgramReceiver {
  proc: Proc;
  /** Waits until `n` datagrams arrived; returns all of them as text. */
  messages(n: number): Promise<string[]>;
  stop(): Promise<void>;
}

/** Starts a receiver bound to `path` (`@name` = abstract). */
export async function startDgramReceiver(path: string): Promise<DgramReceiver> {
  const proc = startProcess("/usr/bin/python3", ["-c", SCRIPT, path]);
  await proc.waitFor("ready\n");
  const decode = () =>
    proc.output().split("\n").slice(1).filter((l) => /^[0-9a-f]+$/.test(l)).map((h) =>
      new TextDecoder().decode(new Uint8Array(h.match(/../g)!.map((b) => parseInt(b, 16))))
    );
  return {
    proc,
    async messages(n) {
      const deadline = Date.now() + 10000;
      while (decode().length < n) {
        if (Date.now() > deadline) throw new Error(`got ${decode().length} of ${n} datagrams`);
        await sleep(20);
      }
      return decode();
    },
    async stop() {
      await proc.stop("SIGKILL");
    },
  };
}
