/**
 * The open-file limit vncws reads at start, and the warning it gives when
 * `--max-connections` would need more descriptors than that.
 * @module
 */
import assert from "node:assert/strict";
import { FD_RESERVE, fdLimitWarning, openFileLimit } from "../../src/service/fd_limit.ts";

Deno.test("fdLimitWarning: silent within the limit, names the numbers and the fix beyond", () => {
  assert.equal(fdLimitWarning(1024, { perSession: 2, limit: 20000 }), undefined);
  assert.equal(fdLimitWarning(1024, { perSession: 2, limit: undefined }), undefined);
  assert.equal(fdLimitWarning(1024, { perSession: 2, limit: 2048 + FD_RESERVE }), undefined);
  const w = fdLimitWarning(1024, { perSession: 3, limit: 1024 });
  assert.match(w!, /--max-connections 1024 needs about 3136 open files, but the limit is 1024/);
  assert.match(w!, /raise the hard limit \(LimitNOFILE=.*lower --max-connections to 320/);
});

Deno.test("openFileLimit: this process's soft limit from /proc/self/limits", () => {
  let limits: string;
  try {
    limits = Deno.readTextFileSync("/proc/self/limits");
  } catch {
    // No procfs (not Linux): the limit is unknown, and vncws says nothing.
    assert.equal(openFileLimit(), undefined);
    return;
  }
  // Linux: the limit is known, so undefined (the warning silently off) is a failure.
  const soft = /^Max open files +(\d+|unlimited) /m.exec(limits)?.[1];
  assert.ok(soft, `no "Max open files" line in /proc/self/limits:\n${limits}`);
  const limit = openFileLimit();
  if (soft === "unlimited") return assert.equal(limit, undefined);
  assert.equal(limit, Number(soft));
  // and it is a real limit: at least the descriptors this process holds now
  assert.ok(limit! >= [...Deno.readDirSync("/proc/self/fd")].length, String(limit));
});
