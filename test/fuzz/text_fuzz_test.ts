/**
 * Fast fuzz subset for the token file parser and the command line parser.
 */
import fc from "fast-check";
import { configureLog } from "../../src/base/log.ts";
import { cliRandom, tokenFileRandom } from "../../scripts/testing/fuzz_text.ts";
import { fuzzParams } from "../../scripts/testing/fuzz_registry.ts";

// Syntax errors in token files are logged; keep the test output readable.
configureLog({ sink: () => {} });

Deno.test("fuzz: token file text parses to valid entries; the last good line wins", () => {
  fc.assert(tokenFileRandom, fuzzParams(1500));
});

Deno.test("fuzz: random command lines give a valid config or a UsageError", () => {
  fc.assert(cliRandom, fuzzParams(1500));
});
