/**
 * Random byte edits for the "mutated" fuzz properties: a valid input with a
 * few bytes set, inserted or deleted.
 * @module
 */
import fc from "fast-check";

/** One edit: a position (taken modulo the length), a byte value, and 0 set / 1 insert / 2 delete. */
export type ByteEdit = [number, number, number];

/** Between 1 and `maxLength` edits. */
export function byteEdits(maxLength: number): fc.Arbitrary<ByteEdit[]> {
  return fc.array(fc.tuple(fc.nat(), fc.nat(255), fc.nat(2)), { minLength: 1, maxLength });
}

/** `bytes` with `edits` applied in order (a new array; `bytes` is kept). */
export function applyEdits(bytes: Uint8Array, edits: readonly ByteEdit[]): Uint8Array {
  const b = Array.from(bytes);
  for (const [pos, value, op] of edits) {
    const at = b.length === 0 ? 0 : pos % b.length;
    if (op === 0 && b.length > 0) b[at] = value;
    else if (op === 1) b.splice(at, 0, value);
    else b.splice(at, 1);
  }
  return new Uint8Array(b);
}
