/**
 * The pixel formats the demo serves: checking the one a client asks for, and
 * converting the desktop's 0xRRGGBB pixels into it.
 * @module
 */
import type { PixelFormat as RfbPixelFormat } from "../rfb/pixel_format.ts";

/** A pixel format the demo can serve: 8, 16 or 32 bits per pixel, true colour. */
export interface PixelFormat extends RfbPixelFormat {
  /** Bits per pixel. */
  bitsPerPixel: 8 | 16 | 32;
}

/** The format announced in ServerInit: 32 bpp, depth 24, little endian, 0x00RRGGBB. */
export const SERVER_PIXEL_FORMAT: PixelFormat = {
  bitsPerPixel: 32,
  depth: 24,
  bigEndian: false,
  trueColour: true,
  redMax: 255,
  greenMax: 255,
  blueMax: 255,
  redShift: 16,
  greenShift: 8,
  blueShift: 0,
};

/**
 * `pf` when the demo can serve it; throws when it cannot (colour maps, or a
 * bits-per-pixel other than 8, 16 or 32), saying what to ask for instead.
 */
export function supportedPixelFormat(pf: RfbPixelFormat): PixelFormat {
  const bpp = pf.bitsPerPixel;
  if (bpp !== 8 && bpp !== 16 && bpp !== 32) {
    throw new Error(`unsupported bits-per-pixel ${bpp}: the demo serves 8, 16 or 32`);
  }
  if (!pf.trueColour) {
    throw new Error("colour-map pixel formats are not supported by the demo; ask for true colour");
  }
  for (const s of [pf.redShift, pf.greenShift, pf.blueShift]) {
    if (s >= bpp) throw new Error(`colour shift ${s} does not fit in ${bpp} bits per pixel`);
  }
  return { ...pf, bitsPerPixel: bpp };
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** True for 32 bpp little-endian 0x00RRGGBB, the framebuffer's own layout. */
function isNative(pf: PixelFormat): boolean {
  return pf.bitsPerPixel === 32 && !pf.bigEndian && pf.redMax === 255 && pf.greenMax === 255 &&
    pf.blueMax === 255 && pf.redShift === 16 && pf.greenShift === 8 && pf.blueShift === 0;
}

/** Converts 0xRRGGBB to the client's pixel value. */
export function pixelValue(pf: PixelFormat, rgb: number): number {
  const r = (rgb >>> 16) & 0xff, g = (rgb >>> 8) & 0xff, b = rgb & 0xff;
  return (
    ((Math.round((r * pf.redMax) / 255) << pf.redShift) |
      (Math.round((g * pf.greenMax) / 255) << pf.greenShift) |
      (Math.round((b * pf.blueMax) / 255) << pf.blueShift)) >>> 0
  );
}

/**
 * Writes the pixels of a rectangle of `fb` (0xRRGGBB, row-major, `stride`
 * pixels per row) into `out` at `offset` in the client's format; returns the
 * offset after the last byte.
 */
export function encodePixels(
  pf: PixelFormat,
  fb: Uint32Array,
  rect: { x: number; y: number; w: number; h: number; stride: number },
  out: { view: DataView; offset: number },
): number {
  const bytes = pf.bitsPerPixel / 8;
  const le = !pf.bigEndian;
  const view = out.view;
  let off = out.offset;
  if (HOST_LITTLE_ENDIAN && isNative(pf)) {
    // The framebuffer's memory already is the wire format: copy whole rows.
    const src = new Uint8Array(fb.buffer, fb.byteOffset, fb.byteLength);
    const dst = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    for (let row = 0; row < rect.h; row++) {
      const start = ((rect.y + row) * rect.stride + rect.x) * 4;
      dst.set(src.subarray(start, start + rect.w * 4), off);
      off += rect.w * 4;
    }
    return off;
  }
  // 32 bpp: the bits no channel uses are set (see OPAQUE in desktop.ts).
  const pad = bytes === 4
    ? ~((pf.redMax << pf.redShift) | (pf.greenMax << pf.greenShift) | (pf.blueMax << pf.blueShift))
    : 0;
  // Desktop content is mostly flat colour: remember the last conversion.
  let lastRgb = -1, lastValue = 0;
  for (let row = 0; row < rect.h; row++) {
    let i = (rect.y + row) * rect.stride + rect.x;
    const end = i + rect.w;
    for (; i < end; i++) {
      const rgb = fb[i];
      if (rgb !== lastRgb) {
        lastRgb = rgb;
        lastValue = (pixelValue(pf, rgb) | pad) >>> 0;
      }
      if (bytes === 4) view.setUint32(off, lastValue, le);
      else if (bytes === 2) view.setUint16(off, lastValue, le);
      else view.setUint8(off, lastValue);
      off += bytes;
    }
  }
  return off;
}
