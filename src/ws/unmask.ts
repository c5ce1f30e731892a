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

/** Bytes per call into the module (its memory is twice this: room to round up). */
export const SIMD_BLOCK = 64 * 1024;

/** XORs `data` with the little-endian word `m` repeated; `data` may be any length. */
export type Unmasker = (data: Uint8Array, m: number) => void;

function load(): Unmasker | undefined {
  try {
    if (typeof WebAssembly === "undefined" || !WebAssembly.validate(MODULE)) return undefined;
    const instance = new WebAssembly.Instance(new WebAssembly.Module(MODULE));
    const memory = instance.exports.memory as WebAssembly.Memory;
    const xor = instance.exports.xor as (p: number, n: number, m: number) => void;
    // The memory never grows, so this view stays valid.
    const scratch = new Uint8Array(memory.buffer, 0, SIMD_BLOCK);
    return (data, m) => {
      const n = data.length;
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
