/**
 * Fast fuzz subset for the RFB policy framing, both directions (the
 * view-only and clipboard filter), plus shapes worth keeping as plain cases.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  frameSteps,
  rfbEarlyPixelFormat,
  rfbMutated,
  rfbRandomBytes,
  rfbSplits,
} from "../../scripts/testing/fuzz_rfb.ts";
import { fuzzParams } from "../../scripts/testing/fuzz_registry.ts";
import { sampleSession } from "../../scripts/testing/rfb_session.ts";

Deno.test("fuzz: the sample session in any chunking forwards what the policy allows", () => {
  fc.assert(rfbSplits, fuzzParams(300));
});

Deno.test("fuzz: mutated sessions are framed or end with an RfbProtocolError", () => {
  fc.assert(rfbMutated, fuzzParams(300));
});

Deno.test("fuzz: random bytes after the handshake are framed or end with an RfbProtocolError", () => {
  fc.assert(rfbRandomBytes, fuzzParams(1000));
});

Deno.test("fuzz: a viewer's pixel format sent before ServerInit is the one rectangles are counted in", () => {
  fc.assert(rfbEarlyPixelFormat, fuzzParams(200));
});

Deno.test("rfb framing: a huge announced length is skipped by count, never buffered", () => {
  const policy = { viewOnly: true, clipboard: "none" } as const;
  const steps = sampleSession(policy);
  const handshake = steps.slice(0, 8);
  // A ServerCutText announcing 2 GiB, of which 1 MiB arrives: all dropped, nothing held.
  const body = new Uint8Array(1 << 20);
  const run = frameSteps(
    [
      ...handshake,
      { from: "server", input: [3, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff], expected: [] },
      { from: "server", input: body, expected: [] },
    ],
    policy,
    [65536],
  );
  assert.equal(run.error, undefined);
  assert.deepEqual(run.outputs.slice(8), [[], []]);
  assert.deepEqual(run.dropped, { server_cut_text: 1 });
});
