/**
 * The RFB PIXEL_FORMAT structure (RFC 6143 §7.4) and its 16-byte wire form,
 * as ServerInit announces it and SetPixelFormat asks for it.
 * @module
 */

/** An RFB PIXEL_FORMAT. */
export interface PixelFormat {
  /** 8, 16 or 32 for the formats anyone uses; any byte on the wire. */
  bitsPerPixel: number;
  /** Useful bits in a pixel. */
  depth: number;
  /** Multi-byte pixels are big-endian. */
  bigEndian: boolean;
  /** True colour (else a colour map). */
  trueColour: boolean;
  /** Largest red value. */
  redMax: number;
  /** Largest green value. */
  greenMax: number;
  /** Largest blue value. */
  blueMax: number;
  /** Bit position of red. */
  redShift: number;
  /** Bit position of green. */
  greenShift: number;
  /** Bit position of blue. */
  blueShift: number;
}

/** Size of a PIXEL_FORMAT on the wire (3 bytes of it are padding). */
export const PIXEL_FORMAT_BYTES = 16;

/** Serialises a pixel format to its 16-byte wire form. */
export function encodePixelFormat(pf: PixelFormat): Uint8Array {
  const out = new Uint8Array(PIXEL_FORMAT_BYTES);
  const v = new DataView(out.buffer);
  v.setUint8(0, pf.bitsPerPixel);
  v.setUint8(1, pf.depth);
  v.setUint8(2, pf.bigEndian ? 1 : 0);
  v.setUint8(3, pf.trueColour ? 1 : 0);
  v.setUint16(4, pf.redMax);
  v.setUint16(6, pf.greenMax);
  v.setUint16(8, pf.blueMax);
  v.setUint8(10, pf.redShift);
  v.setUint8(11, pf.greenShift);
  v.setUint8(12, pf.blueShift);
  return out;
}

/** Reads the 16-byte wire form as it is (no check that anyone can serve it). */
export function parsePixelFormat(bytes: Uint8Array): PixelFormat {
  if (bytes.length < PIXEL_FORMAT_BYTES) {
    throw new RangeError(`a pixel format is ${PIXEL_FORMAT_BYTES} bytes, got ${bytes.length}`);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, PIXEL_FORMAT_BYTES);
  return {
    bitsPerPixel: v.getUint8(0),
    depth: v.getUint8(1),
    bigEndian: v.getUint8(2) !== 0,
    trueColour: v.getUint8(3) !== 0,
    redMax: v.getUint16(4),
    greenMax: v.getUint16(6),
    blueMax: v.getUint16(8),
    redShift: v.getUint8(10),
    greenShift: v.getUint8(11),
    blueShift: v.getUint8(12),
  };
}
