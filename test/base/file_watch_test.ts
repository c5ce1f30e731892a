/**
 * watchFiles on real files: an overwrite, a rename into place, certbot's
 * symlink re-point and cert-manager's `..data` directory swap are each seen
 * once; nothing is reported while nothing changes, a state is reported once
 * however many polls see it, and rebase() takes a change as already seen.
 * Polls are counted through the paths callback, so no test waits on a clock.
 */
import assert from "node:assert/strict";
import { fileSignature, type FileWatch, watchFiles } from "../../src/base/file_watch.ts";
import { tempDir } from "../../scripts/testing/util.ts";

/** A watch on `paths` that counts polls and changes. */
async function counting(paths: string[]) {
  const state = { polls: 0, changes: 0 };
  const watch = await watchFiles(
    () => {
      state.polls++;
      return Promise.resolve(paths);
    },
    () => {
      state.changes++;
      return Promise.resolve();
    },
    { intervalMs: 20, settleMs: 20 },
  );
  return { state, watch };
}

/** Waits until `n` more polls have happened. */
async function polls(state: { polls: number }, n: number): Promise<void> {
  const until = state.polls + n;
  while (state.polls < until) await new Promise((r) => setTimeout(r, 10));
}

/** Waits until `f()` holds, polling. */
async function until(f: () => boolean, what: string, state: { polls: number }): Promise<void> {
  const limit = state.polls + 500;
  while (!f()) {
    assert.ok(state.polls < limit, `never saw ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function closing(watch: FileWatch) {
  return { [Symbol.dispose]: () => watch.close() };
}

Deno.test("watchFiles: nothing changes, nothing is reported", async () => {
  using dir = tempDir();
  const f = `${dir.path}/a.pem`;
  Deno.writeTextFileSync(f, "one");
  const { state, watch } = await counting([f]);
  using _ = closing(watch);
  await polls(state, 10);
  assert.equal(state.changes, 0);
});

Deno.test("watchFiles: an overwrite in place and a rename into place are each seen once", async () => {
  using dir = tempDir();
  const f = `${dir.path}/a.pem`;
  Deno.writeTextFileSync(f, "one");
  const { state, watch } = await counting([f]);
  using _ = closing(watch);
  Deno.writeTextFileSync(f, "two, longer");
  await until(() => state.changes === 1, "the overwrite", state);
  Deno.writeTextFileSync(`${dir.path}/new.pem`, "three");
  Deno.renameSync(`${dir.path}/new.pem`, f);
  await until(() => state.changes === 2, "the rename", state);
  await polls(state, 10);
  assert.equal(state.changes, 2, "one change was reported more than once");
});

Deno.test("watchFiles: certbot's symlink re-point is seen", async () => {
  using dir = tempDir();
  const link = `${dir.path}/fullchain.pem`;
  Deno.writeTextFileSync(`${dir.path}/fullchain1.pem`, "one");
  Deno.writeTextFileSync(`${dir.path}/fullchain2.pem`, "two");
  Deno.symlinkSync("fullchain1.pem", link);
  const { state, watch } = await counting([link]);
  using _ = closing(watch);
  await polls(state, 3);
  assert.equal(state.changes, 0);
  Deno.symlinkSync("fullchain2.pem", `${link}.new`);
  Deno.renameSync(`${link}.new`, link);
  await until(() => state.changes === 1, "the re-pointed symlink", state);
});

Deno.test("watchFiles: cert-manager's ..data swap to a new directory is seen", async () => {
  using dir = tempDir();
  const d = dir.path;
  Deno.mkdirSync(`${d}/..2026_01`);
  Deno.writeTextFileSync(`${d}/..2026_01/tls.crt`, "same size");
  Deno.symlinkSync("..2026_01", `${d}/..data`);
  Deno.symlinkSync("..data/tls.crt", `${d}/tls.crt`);
  const { state, watch } = await counting([`${d}/tls.crt`]);
  using _ = closing(watch);
  Deno.mkdirSync(`${d}/..2026_02`);
  // Same size, and the new file's times may equal the old one's: the inode tells them apart.
  Deno.writeTextFileSync(`${d}/..2026_02/tls.crt`, "same SIZE");
  Deno.symlinkSync("..2026_02", `${d}/..data_tmp`);
  Deno.renameSync(`${d}/..data_tmp`, `${d}/..data`);
  await until(() => state.changes === 1, "the ..data swap", state);
});

Deno.test("watchFiles: a file that goes missing is one state, reported once", async () => {
  using dir = tempDir();
  const f = `${dir.path}/a.pem`;
  Deno.writeTextFileSync(f, "one");
  const { state, watch } = await counting([f]);
  using _ = closing(watch);
  Deno.removeSync(f);
  await until(() => state.changes === 1, "the removal", state);
  await polls(state, 10);
  assert.equal(state.changes, 1);
  Deno.writeTextFileSync(f, "back");
  await until(() => state.changes === 2, "the file's return", state);
});

Deno.test("watchFiles: rebase() takes the current files as seen", async () => {
  using dir = tempDir();
  const f = `${dir.path}/a.pem`;
  Deno.writeTextFileSync(f, "one");
  const state = { polls: 0, changes: 0 };
  const watch = await watchFiles(
    () => (state.polls++, Promise.resolve([f])),
    () => (state.changes++, Promise.resolve()),
    // Slow enough that the change is not seen before rebase() runs.
    { intervalMs: 500, settleMs: 20 },
  );
  using _ = closing(watch);
  Deno.writeTextFileSync(f, "two, longer");
  await watch.rebase();
  await polls(state, 2);
  assert.equal(state.changes, 0);
});

Deno.test("fileSignature: differs after an overwrite, a missing file has its own", async () => {
  using dir = tempDir();
  const f = `${dir.path}/a.pem`;
  const missing = await fileSignature([f]);
  Deno.writeTextFileSync(f, "one");
  const one = await fileSignature([f]);
  Deno.writeTextFileSync(f, "two, longer");
  const two = await fileSignature([f]);
  assert.notEqual(missing, one);
  assert.notEqual(one, two);
  assert.equal(two, await fileSignature([f]));
});
