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
