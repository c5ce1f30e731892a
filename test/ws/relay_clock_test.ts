/**
 * The relay's hot path reads the clock only for a timer that needs it: no
 * Date.now() per read without an idle or ping timeout, at most one per read
 * with one.
 */
import assert from "node:assert/strict";
import { memoryPair } from "../../src/net/memory_stream.ts";
import { readExactly } from "../../scripts/testing/util.ts";
import { CloseCode, closePayload, Opcode } from "../../src/ws/frame.ts";
import { relayRaw, type WsRelayOptions } from "../../src/ws/relay.ts";
import { dec, enc, session } from "./relay_peer.ts";

const ROUNDS = 50;

/** How many times `fn` calls Date.now(). */
async function countNow(fn: () => Promise<void>): Promise<number> {
  const real = Date.now;
  let calls = 0;
  Date.now = () => (calls++, real());
  try {
    await fn();
  } finally {
    Date.now = real;
  }
  return calls;
}

for (const role of ["server", "client"] as const) {
  for (
    const [what, options, most] of [
      ["no timer", {}, 0],
      // One read each way per round; the idle check may tick once or twice.
      ["an idle timeout", { idleTimeout: 10 }, 2 * ROUNDS + 2],
    ] as [string, WsRelayOptions, number][]
  ) {
    Deno.test(`relay ${role} role: with ${what}, at most ${most} Date.now() for ${ROUNDS} reads each way`, async () => {
      const s = session(role, options);
      const calls = await countNow(async () => {
        for (let i = 0; i < ROUNDS; i++) {
          await s.peer.sendText("u");
          assert.equal(dec.decode(await readExactly(s.plain, 1)), "u");
          await s.plain.writeAll(enc.encode("d"));
          assert.deepEqual(await s.peer.next(), { kind: "data", text: "d" });
        }
      });
      assert.ok(calls <= most, `${calls} calls`);
      await s.peer.send(Opcode.Close, closePayload(CloseCode.Normal));
      await s.done;
    });
  }
}

Deno.test(`relayRaw: without an idle timeout, no Date.now() per read`, async () => {
  const [client, clientRelay] = memoryPair();
  const [targetRelay, target] = memoryPair();
  const done = relayRaw(clientRelay, targetRelay);
  const calls = await countNow(async () => {
    for (let i = 0; i < ROUNDS; i++) {
      await client.writeAll(enc.encode("u"));
      await readExactly(target, 1);
      await target.writeAll(enc.encode("d"));
      await readExactly(client, 1);
    }
  });
  assert.equal(calls, 0);
  await client.closeWrite();
  await target.closeWrite();
  await done;
});
