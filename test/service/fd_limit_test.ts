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

Deno.test("openFileLimit: this process's soft limit from /proc", () => {
  const limit = openFileLimit();
  assert.ok(limit === undefined || (Number.isInteger(limit) && limit > 0), String(limit));
});
