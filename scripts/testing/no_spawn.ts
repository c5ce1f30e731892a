/**
 * Preloaded by `deno task test:unit` (scripts/testing/test_sets.ts): unit tests
 * may not start processes, so `Deno.Command` throws. (`--deny-run` would do it,
 * but it also takes away the /proc access that some unit tests need.)
 * @module
 */

Object.defineProperty(Deno, "Command", {
  value: function unitTestCommand(command: string | URL): never {
    throw new Error(
      `a unit test started a process (${command}): scripts/testing/test_sets.ts did not see ` +
        "that this test file starts one; name the function that does in ALSO_SPAWNING there",
    );
  },
});
