import assert from "node:assert/strict";
import { SerialWriter } from "../../src/ws/relay_core.ts";
import type { ByteStream } from "../../src/net/stream.ts";

/** A stream whose writes finish only when the test says so, recording what each write got. */
function heldStream() {
  const written: string[] = [];
  const finish: Array<(ok: boolean) => void> = [];
  const stream: ByteStream = {
    peer: "test",
    read: () => Promise.resolve(null),
    writeAll: (data) =>
      new Promise<void>((resolve, reject) => {
        written.push(new TextDecoder().decode(data));
        finish.push((ok) => ok ? resolve() : reject(new Error("broken pipe")));
      }),
    closeWrite: () => Promise.resolve(),
    close: () => {},
  };
  return { stream, written, finish };
}

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("SerialWriter: a write starts only after the one before it finished, in call order", async () => {
  const { stream, written, finish } = heldStream();
  const w = new SerialWriter(stream);
  const a = w.write(bytes("data"));
  const b = w.write(bytes("ping"));
  const c = w.write(bytes("close"));
  await Promise.resolve();
  assert.deepEqual(written, ["data"]); // the first starts at once, the others wait
  finish[0](true);
  await a;
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(written, ["data", "ping"]);
  finish[1](true);
  await b;
  await new Promise((r) => setTimeout(r, 0));
  finish[2](true);
  await c;
  assert.deepEqual(written, ["data", "ping", "close"]);
  // idle again: the next write starts at once
  const d = w.write(bytes("more"));
  assert.deepEqual(written.at(-1), "more");
  finish[3](true);
  await d;
});

Deno.test("SerialWriter: after a failed write, queued and later writes reject without writing", async () => {
  const { stream, written, finish } = heldStream();
  const w = new SerialWriter(stream);
  const a = w.write(bytes("data"));
  const b = w.write(bytes("queued"));
  finish[0](false);
  await assert.rejects(a, /broken pipe/);
  await assert.rejects(b, /stream closed/);
  await assert.rejects(w.write(bytes("later")), /stream closed/);
  assert.deepEqual(written, ["data"]);
});
