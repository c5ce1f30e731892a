/**
 * Every fuzz target, with the share of cases it gets. The fast tests run a
 * few thousand cases in all; `deno task fuzz` runs the same properties with
 * many more (scripts/fuzz.ts).
 * @module
 */
import type fc from "fast-check";
import { frameMutated, frameRandomBytes, frameRoundTrip } from "./fuzz_frame.ts";
import { headMutated, headRandomBytes, headStructured } from "./fuzz_head.ts";
import {
  proxyHeaderMutated,
  proxyHeaderRandomBytes,
  proxyHeaderRoundTrip,
} from "./fuzz_proxy_header.ts";
import { rfbEarlyPixelFormat, rfbMutated, rfbRandomBytes, rfbSplits } from "./fuzz_rfb.ts";
import { cliRandom, tokenFileRandom } from "./fuzz_text.ts";

/** A named property and its share of the cases (weights add up to 1). */
export interface FuzzTarget {
  name: string;
  // deno-lint-ignore no-explicit-any
  property: fc.IPropertyWithHooks<any>;
  weight: number;
}

/** The fuzz targets, cheapest per case last. */
export const FUZZ_TARGETS: readonly FuzzTarget[] = [
  { name: "frame round trip (all splits)", property: frameRoundTrip, weight: 0.15 },
  { name: "frame decoder, random bytes", property: frameRandomBytes, weight: 0.15 },
  { name: "frame decoder, mutated streams", property: frameMutated, weight: 0.1 },
  { name: "HTTP head, structured", property: headStructured, weight: 0.1 },
  { name: "HTTP head, mutated", property: headMutated, weight: 0.1 },
  { name: "HTTP head, random bytes", property: headRandomBytes, weight: 0.05 },
  { name: "RFB policy framing, all splits", property: rfbSplits, weight: 0.03 },
  { name: "RFB policy framing, mutated sessions", property: rfbMutated, weight: 0.04 },
  { name: "RFB policy framing, random bytes", property: rfbRandomBytes, weight: 0.02 },
  {
    name: "RFB policy framing, viewer's pixel format before ServerInit",
    property: rfbEarlyPixelFormat,
    weight: 0.01,
  },
  { name: "PROXY header round trip", property: proxyHeaderRoundTrip, weight: 0.04 },
  { name: "PROXY header, mutated", property: proxyHeaderMutated, weight: 0.03 },
  { name: "PROXY header, random bytes", property: proxyHeaderRandomBytes, weight: 0.03 },
  { name: "token file text", property: tokenFileRandom, weight: 0.075 },
  { name: "command line", property: cliRandom, weight: 0.075 },
];

/** fast-check parameters: a seed from FUZZ_SEED when set (to replay a failure). */
export function fuzzParams(numRuns: number): fc.Parameters<unknown> {
  const seed = Deno.env.get("FUZZ_SEED");
  return seed ? { numRuns, seed: Number(seed) } : { numRuns };
}
