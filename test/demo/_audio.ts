/**
 * Reading the demo's tone back, for its tests: the samples of a QEMU audio
 * data message and their zero crossings.
 * @module
 */
import type { AudioFormat } from "../../src/demo/audio.ts";

/** Channel `channel`'s samples of a data message, centred on 0. */
export function samples(msg: Uint8Array, format: AudioFormat, channel = 0): number[] {
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const bytes = [1, 1, 2, 2, 4, 4][format.sampleFormat];
  const unsigned = format.sampleFormat % 2 === 0;
  const out: number[] = [];
  for (let off = 8 + channel * bytes; off < msg.length; off += bytes * format.channels) {
    let s = bytes === 1
      ? (unsigned ? v.getUint8(off) : v.getInt8(off))
      : bytes === 2
      ? (unsigned ? v.getUint16(off, true) : v.getInt16(off, true))
      : (unsigned ? v.getUint32(off, true) : v.getInt32(off, true));
    if (unsigned) s -= 2 ** (bytes * 8 - 1);
    out.push(s);
  }
  return out;
}

/** Sign changes from one sample to the next: twice the frequency per second of samples. */
export function zeroCrossings(values: number[]): number {
  let n = 0;
  for (let i = 1; i < values.length; i++) {
    if ((values[i - 1] < 0 && values[i] >= 0) || (values[i - 1] >= 0 && values[i] < 0)) n++;
  }
  return n;
}
