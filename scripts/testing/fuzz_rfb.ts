/**
 * Fuzz properties for the RFB policy framing (src/rfb/policy_framer.ts on
 * src/rfb/scanner.ts and src/rfb/server_messages.ts), both directions: a
 * session with every message and encoding gives the same forwarded bytes
 * and drops in any chunking; mutated sessions and random bytes after the
 * handshake end in forwarded bytes or an RfbProtocolError (the session's
 * clear end), never another error.
 * @module
 */
import fc from "fast-check";
import { applyEdits, type ByteEdit, byteEdits } from "./fuzz_edits.ts";
import { sampleSession, type SessionStep } from "./rfb_session.ts";
import type { ClipboardMode, RfbPolicy } from "../../src/rfb/policy.ts";
import { RfbPolicyFramer } from "../../src/rfb/policy_framer.ts";
import { RfbProtocolError } from "../../src/rfb/reader.ts";

/** What framing a session's steps gave. */
export interface FramedRun {
  /** The forwarded bytes of each step. */
  outputs: number[][];
  /** Drops by kind. */
  dropped: Record<string, number>;
  /** The RfbProtocolError that ended it, if one did. */
  error?: RfbProtocolError;
}

/**
 * Frames `steps` under `policy`, each step's bytes cut into chunks whose
 * sizes cycle through `sizes`; any error but RfbProtocolError is thrown.
 */
export function frameSteps(
  steps: readonly SessionStep[],
  policy: RfbPolicy,
  sizes: readonly number[],
): FramedRun {
  const dropped: Record<string, number> = {};
  const framer = new RfbPolicyFramer(policy, (kind) => dropped[kind] = (dropped[kind] ?? 0) + 1);
  const outputs: number[][] = [];
  let k = 0;
  try {
    for (const step of steps) {
      const out: number[] = [];
      outputs.push(out);
      const input = Uint8Array.from(step.input);
      for (let i = 0; i < input.length;) {
        const n = Math.max(1, sizes[k++ % sizes.length]);
        const chunk = input.subarray(i, i + n);
        i += n;
        const parts = step.from === "server" ? framer.fromServer(chunk) : framer.fromClient(chunk);
        for (const p of parts) for (const b of p) out.push(b);
      }
    }
  } catch (e) {
    if (e instanceof RfbProtocolError) return { outputs, dropped, error: e };
    throw e;
  }
  return { outputs, dropped };
}

const policies: fc.Arbitrary<RfbPolicy> = fc.record({
  viewOnly: fc.boolean(),
  clipboard: fc.constantFrom<ClipboardMode>("both", "to-client", "to-server", "none"),
});

const chunkSizes = fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 8 });

function same(a: unknown, b: unknown, what: string): void {
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  if (x !== y) throw new Error(`${what} differ: ${x.slice(0, 200)} vs ${y.slice(0, 200)}`);
}

/** The sample session in any chunking forwards exactly what the policy allows. */
export const rfbSplits: fc.IPropertyWithHooks<[RfbPolicy, number[]]> = fc.property(
  policies,
  chunkSizes,
  (policy, sizes) => {
    const steps = sampleSession(policy);
    const run = frameSteps(steps, policy, sizes);
    if (run.error) throw run.error;
    steps.forEach((s, i) => same(run.outputs[i], s.expected, `step ${i} (${s.from})`));
    const want: Record<string, number> = {};
    for (const s of steps) if (s.dropped) want[s.dropped] = (want[s.dropped] ?? 0) + 1;
    same(Object.entries(run.dropped).sort(), Object.entries(want).sort(), "drops");
  },
);

/** A session with a few bytes of one step changed: forwarded bytes or RfbProtocolError. */
export const rfbMutated: fc.IPropertyWithHooks<[RfbPolicy, number, ByteEdit[], number[]]> = fc
  .property(policies, fc.nat(), byteEdits(6), chunkSizes, (policy, at, edits, sizes) => {
    const steps = sampleSession(policy);
    const i = at % steps.length;
    steps[i] = { ...steps[i], input: applyEdits(Uint8Array.from(steps[i].input), edits) };
    frameSteps(steps, policy, sizes);
  });

/** Random bytes from either side after the handshake: forwarded bytes or RfbProtocolError. */
export const rfbRandomBytes: fc.IPropertyWithHooks<
  [RfbPolicy, Array<[boolean, Uint8Array]>, number[]]
> = fc.property(
  policies,
  fc.array(fc.tuple(fc.boolean(), fc.uint8Array({ minLength: 1, maxLength: 300 })), {
    minLength: 1,
    maxLength: 6,
  }),
  chunkSizes,
  (policy, parts, sizes) => {
    const session = sampleSession(policy);
    const handshake = session.slice(
      0,
      session.findIndex((s) => s.input[0] === 0 && s.from === "client") + 1,
    );
    const random: SessionStep[] = parts.map(([server, bytes]) => ({
      from: server ? "server" : "client",
      input: bytes,
      expected: [],
    }));
    frameSteps([...handshake, ...random], policy, sizes);
  },
);

/**
 * A viewer that sends ClientInit and SetPixelFormat (8, 16 or 32 bits) in
 * one write before ServerInit, and the server's Raw rectangles in the
 * viewer's format then a ServerCutText: with the clipboard kept from the
 * viewer the text never reaches it, in any chunking (the viewer's format
 * wins over ServerInit's, which the server applies after it).
 */
export const rfbEarlyPixelFormat: fc.IPropertyWithHooks<[number, number, number[]]> = fc
  .property(
    fc.constantFrom(8, 16, 32),
    fc.integer({ min: 0, max: 20 }),
    chunkSizes,
    (bits, width, sizes) => {
      const be16 = (n: number) => [(n >> 8) & 255, n & 255];
      const be32 = (n: number) => [...be16(n >>> 16), ...be16(n & 0xffff)];
      const text = (t: string) => [...new TextEncoder().encode(t)];
      const pf = [bits, bits === 32 ? 24 : bits, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0];
      const serverPf = [32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0];
      const update = [0, 0, 0, 1, 0, 0, 0, 0, ...be16(width), 0, 3, ...be32(0)];
      const pixels = new Array(width * 3 * (bits >> 3)).fill(0x03);
      const steps: SessionStep[] = [
        { from: "server", input: text("RFB 003.008\n"), expected: text("RFB 003.008\n") },
        { from: "client", input: text("RFB 003.008\n"), expected: text("RFB 003.008\n") },
        { from: "server", input: [1, 1], expected: [1, 1] },
        { from: "client", input: [1], expected: [1] },
        { from: "server", input: be32(0), expected: be32(0) },
        { from: "client", input: [1, 0, 0, 0, 0, ...pf], expected: [1, 0, 0, 0, 0, ...pf] },
        {
          from: "server",
          input: [
            ...be16(8),
            ...be16(8),
            ...serverPf,
            ...be32(0),
            ...update,
            ...pixels,
            3,
            0,
            0,
            0,
            ...be32(6),
            ...text("secret"),
            2,
          ],
          expected: [...be16(8), ...be16(8), ...serverPf, ...be32(0), ...update, ...pixels, 2],
        },
      ];
      const run = frameSteps(steps, { viewOnly: false, clipboard: "none" }, sizes);
      if (run.error) throw run.error;
      steps.forEach((s, i) => same(run.outputs[i], s.expected, `step ${i} (${s.from})`));
      same(run.dropped, { server_cut_text: 1 }, "drops");
    },
  );
