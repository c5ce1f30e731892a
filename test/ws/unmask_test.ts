import assert from "node:assert/strict";
import {
  giveSlab,
  SIMD_BLOCK,
  simdUnmasker,
  SLAB_BYTES,
  SLABS,
  takeSlab,
} from "../../src/ws/unmask.ts";
import { maskInPlace } from "../../src/ws/frame.ts";

const MASK = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);

function pattern(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 131 + 7) & 0xff;
  return out;
}

/** The byte-at-a-time definition of RFC 6455 §5.3. */
function reference(data: Uint8Array, pos: number): Uint8Array {
  return data.map((b, i) => b ^ MASK[(pos + i) & 3]);
}

Deno.test("the SIMD module loads in Deno (else the JS loop would run and this goal be lost)", () => {
  assert.ok(simdUnmasker, "WebAssembly SIMD module did not load");
});

Deno.test("maskInPlace gives the byte-wise result across SIMD blocks, lengths, offsets and positions", () => {
  for (
    const n of [
      255,
      256,
      257,
      1031,
      SIMD_BLOCK - 1,
      SIMD_BLOCK,
      SIMD_BLOCK + 5,
      3 * SIMD_BLOCK + 13,
    ]
  ) {
    for (const off of [0, 1, 3]) {
      for (const pos of [0, 1, 2, 3]) {
        const base = pattern(n);
        const buf = new Uint8Array(n + 8);
        const view = buf.subarray(off, off + n);
        view.set(base);
        assert.equal(maskInPlace(view, MASK, pos), (pos + n) & 3);
        assert.deepEqual(view, reference(base, pos), `n=${n} off=${off} pos=${pos}`);
        // the bytes around the view are untouched (the module rounds up only in its own memory)
        assert.equal(buf[off + n], 0);
        if (off > 0) assert.equal(buf[off - 1], 0);
      }
    }
  }
});

Deno.test("maskInPlace at the wrong mask position does not give the byte-wise result", () => {
  const base = pattern(4096);
  const view = base.slice();
  maskInPlace(view, MASK, 1);
  assert.notDeepEqual(view, reference(base, 0));
});

Deno.test("data in a lent slab is unmasked in place, and the bytes after it are left alone", () => {
  const slab = takeSlab();
  assert.ok(slab, "no slab free");
  try {
    for (const n of [17, 255, 4096 + 3]) {
      const base = pattern(n + 32);
      slab.set(base);
      const view = slab.subarray(5, 5 + n);
      maskInPlace(view, MASK, 2);
      assert.deepEqual(view, reference(base.subarray(5, 5 + n), 2), `n=${n}`);
      // the next frame's bytes (the module works in 16-byte lanes) are untouched
      assert.deepEqual(slab.subarray(5 + n, 5 + n + 27), base.subarray(5 + n, 5 + n + 27));
    }
  } finally {
    giveSlab(slab);
  }
});

Deno.test("slabs: lent until none is free, a plain buffer is never taken back", () => {
  const taken: Uint8Array[] = [];
  for (let s = takeSlab(); s; s = takeSlab()) taken.push(s);
  assert.equal(taken.length, SLABS);
  assert.equal(takeSlab(), undefined);
  giveSlab(new Uint8Array(SLAB_BYTES)); // not one of them: ignored
  assert.equal(takeSlab(), undefined);
  for (const s of taken) giveSlab(s);
  const again = takeSlab();
  assert.ok(again);
  giveSlab(again);
});
