/**
 * Fast fuzz subset for the inbound PROXY protocol parser, plus shapes worth
 * keeping as plain cases.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  checkParse,
  proxyHeaderMutated,
  proxyHeaderRandomBytes,
  proxyHeaderRoundTrip,
} from "../../scripts/testing/fuzz_proxy_header.ts";
import { fuzzParams } from "../../scripts/testing/fuzz_registry.ts";
import { V2_SIGNATURE } from "../../src/net/proxy_protocol.ts";

Deno.test("fuzz: built PROXY headers parse back; their prefixes are incomplete", () => {
  fc.assert(proxyHeaderRoundTrip, fuzzParams(1000));
});

Deno.test("fuzz: mutated PROXY headers parse with every invariant or are refused", () => {
  fc.assert(proxyHeaderMutated, fuzzParams(1500));
});

Deno.test("fuzz: random bytes as a PROXY header parse with every invariant or are refused", () => {
  fc.assert(proxyHeaderRandomBytes, fuzzParams(1500));
});

Deno.test("PROXY header: edge shapes keep the invariants", () => {
  const v2 = (b12: number, b13: number, len: number) =>
    new Uint8Array([...V2_SIGNATURE, b12, b13, len >> 8, len & 0xff, ...new Array(len).fill(0)]);
  // The largest announced body, every family byte, a zero-length INET body.
  assert.equal(checkParse(v2(0x21, 0x11, 1024)).status, "header");
  for (let fam = 0; fam < 256; fam++) checkParse(v2(0x21, fam, 36));
  assert.equal(checkParse(v2(0x21, 0x11, 0)).status, "invalid");
  // 0.0.0.0:0 is a well-formed (if useless) client.
  const zero = checkParse(v2(0x21, 0x11, 12));
  assert.equal(zero.status === "header" && zero.header.source, "0.0.0.0:0");
});
