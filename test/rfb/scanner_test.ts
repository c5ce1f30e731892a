import assert from "node:assert/strict";
import { ByteScanner } from "../../src/rfb/scanner.ts";

/** A toy protocol: a 2-byte header [kind, n], then n body bytes; kind 0 drops, 1 passes, 2 rewrites. */
function toy(): ByteScanner {
  const s = new ByteScanner();
  const next = () =>
    s.collect(2, (h) => {
      s.skip(h[1], h[0] !== 0, next);
      if (h[0] === 2) return new Uint8Array([9, 9, 9]);
      return h[0] === 0 ? "drop" : "pass";
    });
  next();
  return s;
}

function run(bytes: number[], cuts: number[]): { out: number[]; views: number } {
  const s = toy();
  const input = Uint8Array.from(bytes);
  const out: number[] = [];
  let views = 0;
  let at = 0;
  for (const end of [...cuts, input.length]) {
    const chunk = input.subarray(at, end);
    for (const p of s.push(chunk)) {
      if (p.buffer === input.buffer) views++;
      out.push(...p);
    }
    at = end;
  }
  return { out, views };
}

const STREAM = [1, 3, 10, 11, 12, 0, 2, 20, 21, 2, 1, 30, 1, 0];
const WANT = [1, 3, 10, 11, 12, 9, 9, 9, 30, 1, 0];

Deno.test("scanner: passes, drops and rewrites by header, with a cut at every offset", () => {
  assert.deepEqual(run(STREAM, []).out, WANT);
  for (let i = 1; i < STREAM.length; i++) {
    assert.deepEqual(run(STREAM, [i]).out, WANT, `cut at ${i}`);
    for (let j = i + 1; j < STREAM.length; j++) {
      assert.deepEqual(run(STREAM, [i, j]).out, WANT, `cuts at ${i}, ${j}`);
    }
  }
});

Deno.test("scanner: what passes whole within a chunk is forwarded as views, not copies", () => {
  const { out, views } = run([1, 4, 1, 2, 3, 4, 1, 0], []);
  assert.deepEqual(out, [1, 4, 1, 2, 3, 4, 1, 0]);
  assert.equal(views, 1, "one view of the whole chunk");
});

Deno.test("scanner: a step that sets no next state is a bug, said so", () => {
  const s = new ByteScanner();
  s.collect(1, () => {});
  assert.throws(() => s.push(new Uint8Array([1])), /set no next state/);
});

Deno.test("scanner: a large header grows the buffer only while it is collected", () => {
  const s = new ByteScanner();
  const small = () => s.collect(2, () => s.skip(0, true, small));
  s.collect(4, () => s.collect(256 * 1024, () => small()));
  s.push(new Uint8Array(4));
  s.push(new Uint8Array(100 * 1024));
  assert.ok(s.headCapacity >= 256 * 1024, "grown while collecting (the check can see it)");
  s.push(new Uint8Array(156 * 1024 + 3));
  assert.ok(s.headCapacity <= 64, `back to small: ${s.headCapacity}`);
});
