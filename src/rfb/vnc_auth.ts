/**
 * VNC authentication (RFC 6143 §7.2.2) from the client side: the 16-byte
 * challenge encrypted with DES under the password. VNC's quirks: the
 * password is cut or zero-padded to 8 bytes and the bits of each byte are
 * reversed to make the key.
 *
 * Deno's node:crypto has no `des-ecb`, but single DES is triple DES with
 * three equal keys (K1 = K2 = K3: encrypt, decrypt, encrypt with the same
 * key is one encryption), and CBC with a zero IV over one block is ECB; so
 * each 8-byte block goes through `des-ede3-cbc` on its own.
 * @module
 */
import { createCipheriv } from "node:crypto";

/** Size of the VncAuth challenge and of the response. */
export const VNC_AUTH_CHALLENGE_BYTES = 16;

const BLOCK = 8;
const encoder = new TextEncoder();

/** Reverses the bit order of a byte (VNC's DES key quirk). */
function reverseBits(b: number): number {
  let r = 0;
  for (let i = 0; i < 8; i++) r |= ((b >> i) & 1) << (7 - i);
  return r;
}

/** The DES key VNC derives from `password`: 8 bytes, each bit-reversed. */
export function vncAuthKey(password: string): Uint8Array {
  const key = new Uint8Array(BLOCK);
  key.set(encoder.encode(password).subarray(0, BLOCK));
  return key.map(reverseBits);
}

/** The response to a VncAuth `challenge` (16 bytes) for `password`. */
export function vncAuthResponse(password: string, challenge: Uint8Array): Uint8Array {
  if (challenge.length !== VNC_AUTH_CHALLENGE_BYTES) {
    throw new RangeError(`a VncAuth challenge is 16 bytes, got ${challenge.length}`);
  }
  const key = vncAuthKey(password);
  const key24 = new Uint8Array(3 * BLOCK);
  for (let i = 0; i < 3; i++) key24.set(key, i * BLOCK);
  const out = new Uint8Array(VNC_AUTH_CHALLENGE_BYTES);
  for (let off = 0; off < VNC_AUTH_CHALLENGE_BYTES; off += BLOCK) {
    // A fresh cipher per block: CBC chaining across blocks would not be ECB.
    const cipher = createCipheriv("des-ede3-cbc", key24, new Uint8Array(BLOCK));
    cipher.setAutoPadding(false);
    const enc = cipher.update(challenge.subarray(off, off + BLOCK));
    cipher.final();
    out.set(enc, off);
  }
  return out;
}
