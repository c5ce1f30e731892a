import assert from "node:assert/strict";
import { vncAuthKey, vncAuthResponse } from "../../src/rfb/vnc_auth.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("vnc auth: the key is the password cut to 8 bytes, each byte's bits reversed", () => {
  // "s3cret12": 0x73 → 0xce, 0x33 → 0xcc, …
  assert.equal(hex(vncAuthKey("s3cret12")), "ceccc64ea62e8c4c");
  assert.equal(hex(vncAuthKey("s3cret12-and-more")), "ceccc64ea62e8c4c");
  assert.equal(hex(vncAuthKey("ab")), "8646000000000000");
});

Deno.test("vnc auth: the response is DES-ECB of each challenge block (vector from openssl des-ecb)", () => {
  const challenge = new Uint8Array(16).map((_, i) => i);
  // openssl enc -des-ecb -nopad -K ceccc64ea62e8c4c over bytes 00..0f
  assert.equal(hex(vncAuthResponse("s3cret12", challenge)), "2dbb9e7a1501bfa3c4005539adc58be6");
  // Another password, another answer; the blocks are encrypted on their own (no chaining).
  assert.notEqual(hex(vncAuthResponse("s3cret13", challenge)), "2dbb9e7a1501bfa3c4005539adc58be6");
  const twice = new Uint8Array(16).fill(7);
  const r = vncAuthResponse("pw", twice);
  assert.equal(hex(r.subarray(0, 8)), hex(r.subarray(8)));
  assert.throws(() => vncAuthResponse("pw", new Uint8Array(8)), RangeError);
});
