/**
 * Fast fuzz subset for the frame codec (the long run is `deno task fuzz`).
 * Replay a failure with FUZZ_SEED=<seed printed by fast-check>.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  frameMutated,
  frameRandomBytes,
  frameRoundTrip,
} from "../../scripts/testing/fuzz_frame.ts";
import { decodeChunks } from "../../scripts/testing/fuzz_frame.ts";
import { fuzzParams } from "../../scripts/testing/fuzz_registry.ts";
import { encodeFrame, Opcode } from "../../src/ws/frame.ts";

Deno.test("fuzz: random frames round-trip through every chunking", () => {
  fc.assert(frameRoundTrip, fuzzParams(300));
});

Deno.test("fuzz: random bytes end in events or a defined close code, whatever the chunking", () => {
  fc.assert(frameRandomBytes, fuzzParams(3000));
});

Deno.test("fuzz: mutated frame streams end in events or a defined close code", () => {
  fc.assert(frameMutated, fuzzParams(500));
});

Deno.test("fuzz harness: a wrong byte or a hidden error is noticed", () => {
  // The checker itself must be able to fail: an unmasked frame on the server
  // side ends in 1002, and data is compared byte for byte.
  const frame = encodeFrame(Opcode.Binary, new Uint8Array([1, 2, 3]));
  assert.equal(decodeChunks(frame, [], { expectMasked: true }).error, 1002);
  const a = decodeChunks(frame, [], { expectMasked: false });
  const b = frame.slice();
  b[b.length - 1] ^= 1;
  assert.notDeepEqual(decodeChunks(b, [], { expectMasked: false }).events, a.events);
});
