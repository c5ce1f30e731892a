;; XOR unmasking of WebSocket payloads with WebAssembly SIMD (src/ws/unmask.ts).
;; The bytes of this module are written out in unmask.ts (no wat2wasm needed at
;; run time or build time); keep the two in step.
;;
;; xor(p, n, m): XORs memory[p .. p + n rounded up to 16) with the 32-bit word m
;; repeated (little-endian: m's low byte applies to the first byte). The caller
;; copies a block into memory at 0, calls xor, and copies the block back; bytes
;; past n are scratch, so the loop never needs a tail.
(module
  (memory (export "memory") 2)
  (func (export "xor") (param $p i32) (param $n i32) (param $m i32)
    (local $v v128)
    (local $end i32)
    (local.set $v (i32x4.splat (local.get $m)))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (v128.store (local.get $p)
          (v128.xor (v128.load (local.get $p)) (local.get $v)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $next)))))
