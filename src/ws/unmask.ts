/**
 * WebSocket payload unmasking with WebAssembly SIMD: the upstream hot loop
 * (every byte a browser sends is masked). A block is copied into the
 * module's memory, XORed 16 bytes per instruction and copied back: three
 * passes at memory speed cost about half of the JS word loop's one
 * (docs/bench.md). The module is {@link ./unmask.wat}, assembled by hand
 * below; {@linkcode simdUnmasker} is undefined where WebAssembly or its
 * SIMD is missing, and frame.ts then keeps its JS loop.
 * @module
 */

/** The bytes of unmask.wat (sections: type, function, memory, export, code). */
// deno-fmt-ignore
const MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x07, 0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00, // type: func (i32, i32, i32) -> ()
  0x03, 0x02, 0x01, 0x00, // function: func 0 has type 0
  0x05, 0x03, 0x01, 0x00, 0x02, // memory: min 2 pages (128 KiB), no max
  0x07, 0x10, 0x02, // export: two
  0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, // "memory" = memory 0
  0x03, 0x78, 0x6f, 0x72, 0x00, 0x00, // "xor" = func 0
  0x0a, 0x3b, 0x01, 0x39, // code: one body of 0x39 bytes
  0x02, 0x01, 0x7b, 0x01, 0x7f, // locals: $v v128, $end i32
  0x20, 0x02, 0xfd, 0x11, 0x21, 0x03, // $v = i32x4.splat($m)
  0x20, 0x00, 0x20, 0x01, 0x6a, 0x21, 0x04, // $end = $p + $n
  0x02, 0x40, 0x03, 0x40, // block $done, loop $next
  0x20, 0x00, 0x20, 0x04, 0x4f, 0x0d, 0x01, // br_if $done ($p >= $end)
  0x20, 0x00, // address for the store
  0x20, 0x00, 0xfd, 0x00, 0x04, 0x00, // v128.load $p
  0x20, 0x03, 0xfd, 0x51, // v128.xor $v
  0xfd, 0x0b, 0x04, 0x00, // v128.store
  0x20, 0x00, 0x41, 0x10, 0x6a, 0x21, 0x00, // $p += 16
  0x0c, 0x00, 0x0b, 0x0b, 0x0b, // br $next, end loop, end block, end func
]);

/** Bytes per call into the module for data outside its memory (the scratch block is twice this). */
export const SIMD_BLOCK = 64 * 1024;

/** Size of a read buffer lent from the module's memory ({@linkcode takeSlab}). */
export const SLAB_BYTES = 256 * 1024;

/**
 * Read buffers the module's memory holds besides its scratch block: the
 * decode pumps of this many sessions in bulk transfer read straight into
 * it and are unmasked where they lie, with no copy in or out. Pages are
 * touched only when lent; later sessions take plain buffers and the copying
 * path. The memory is sized once: growing it would detach every view.
 */
export const SLABS = 32;

/** XORs `data` with the little-endian word `m` repeated; `data` may be any length. */
export type Unmasker = (data: Uint8Array, m: number) => void;

/** The free slabs, and the module's memory (undefined without SIMD). */
const free: Uint8Array<ArrayBuffer>[] = [];
let wasmBuffer: ArrayBuffer | undefined;

function load(): Unmasker | undefined {
  try {
    if (typeof WebAssembly === "undefined" || !WebAssembly.validate(MODULE)) return undefined;
    const instance = new WebAssembly.Instance(new WebAssembly.Module(MODULE));
    const memory = instance.exports.memory as WebAssembly.Memory;
    const xor = instance.exports.xor as (p: number, n: number, m: number) => void;
    const scratchBytes = 2 * SIMD_BLOCK;
    memory.grow((scratchBytes + SLABS * SLAB_BYTES - memory.buffer.byteLength) / 65536);
    // The memory never grows again, so these views stay valid.
    const buffer = memory.buffer as ArrayBuffer;
    wasmBuffer = buffer;
    for (let i = SLABS - 1; i >= 0; i--) {
      free.push(new Uint8Array(buffer, scratchBytes + i * SLAB_BYTES, SLAB_BYTES));
    }
    const scratch = new Uint8Array(buffer, 0, SIMD_BLOCK);
    return (data, m) => {
      const n = data.length;
      if (data.buffer === buffer) {
        // In a slab: in place, whole 16-byte lanes in the module (it must not
        // touch the bytes after the data: the next frame), the rest here.
        const lanes = n & ~15;
        xor(data.byteOffset, lanes, m);
        for (let i = lanes; i < n; i++) data[i] ^= m >>> ((i & 3) << 3);
        return;
      }
      for (let i = 0; i < n; i += SIMD_BLOCK) {
        const block = data.subarray(i, Math.min(n, i + SIMD_BLOCK));
        scratch.set(block);
        xor(0, block.length, m);
        block.set(scratch.subarray(0, block.length));
      }
    };
  } catch {
    return undefined;
  }
}

/**
 * The SIMD unmasker, or undefined without WebAssembly SIMD. Blocks are
 * multiples of 16 bytes except the last, so the mask word stays aligned.
 */
export const simdUnmasker: Unmasker | undefined = load();

/**
 * Lends a {@linkcode SLAB_BYTES} read buffer in the module's memory, or
 * undefined when none is free (or there is no SIMD): data read into it is
 * unmasked without copies. Give it back with {@linkcode giveSlab} once
 * nothing reads, writes or keeps a view of it.
 */
export function takeSlab(): Uint8Array<ArrayBuffer> | undefined {
  return free.pop();
}

/** Returns a buffer from {@linkcode takeSlab}; any other buffer is ignored. */
export function giveSlab(buf: Uint8Array): void {
  if (wasmBuffer !== undefined && buf.buffer === wasmBuffer && buf.length === SLAB_BYTES) {
    free.push(buf as Uint8Array<ArrayBuffer>);
  }
}
