/**
 * The shutdown's stages, driven by {@linkcode Lifecycle.signal} (what the
 * SIGINT/SIGTERM listeners call), without a process: readiness, accepting,
 * closing pending connections and sessions, and what a further signal skips.
 */
import assert from "node:assert/strict";
import { Lifecycle, type ShutdownOptions } from "../../src/app/lifecycle.ts";

/** Long enough that no timer fires during a test that does not wait for it. */
const LONG = 3600;

/** A lifecycle and a promise that resolves when it stops accepting. */
function started(): { life: Lifecycle; stopped: Promise<void> } {
  const life = new Lifecycle();
  const stopped = new Promise<void>((resolve) => life.onStop(resolve));
  return { life, stopped };
}

const aborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });

Deno.test("lifecycle: ready until a signal; without --drain-delay accepting stops at once", async () => {
  const { life } = started();
  assert.deepEqual(life.ready(), { ok: true });
  life.signal("SIGTERM", { drainDelay: 0, drainTimeout: LONG });
  assert.equal(life.stopping, true);
  assert.deepEqual(life.ready(), { ok: false, why: "stopping" });
  // Connections that are not sessions yet close now; sessions get the drain.
  assert.equal(life.pendingSignal.aborted, true);
  assert.equal(life.shutdownSignal.aborted, false);
  // A second signal during the drain closes every session now.
  life.signal("SIGTERM", { drainDelay: 0, drainTimeout: LONG });
  assert.equal(life.shutdownSignal.aborted, true);
  await life.close();
});

Deno.test("lifecycle: --drain-delay: not ready at once, yet still accepting; each signal skips a stage", async () => {
  const { life } = started();
  const options: ShutdownOptions = { drainDelay: LONG, drainTimeout: LONG };
  life.signal("SIGTERM", options);
  const r = life.ready();
  assert.equal(r.ok, false);
  assert.match(r.why ?? "", /--drain-delay/);
  // Still accepting: new connections and sessions are served as before.
  assert.equal(life.stopping, false);
  assert.equal(life.pendingSignal.aborted, false);
  // The second signal skips the rest of the delay: the drain begins.
  life.signal("SIGINT", options);
  assert.equal(life.stopping, true);
  assert.equal(life.pendingSignal.aborted, true);
  assert.equal(life.shutdownSignal.aborted, false);
  // The third skips the rest of the drain.
  life.signal("SIGTERM", options);
  assert.equal(life.shutdownSignal.aborted, true);
  await life.close();
});

Deno.test("lifecycle: the delay ends, accepting stops, then the drain's end closes the sessions", async () => {
  const { life, stopped } = started();
  let asked = 0;
  life.signal("SIGTERM", {
    drainDelay: 0.01,
    drainTimeout: 0.01,
    openSessions: () => (asked++, 2),
  });
  assert.equal(life.stopping, false);
  await stopped;
  assert.equal(life.stopping, true);
  await aborted(life.shutdownSignal);
  // The drain's end counted the sessions it closes, for its log line.
  assert.equal(asked, 1);
  await life.close();
});

Deno.test("lifecycle: a signal after --timeout stopped accepting drains without a delay", async () => {
  const { life } = started();
  life.stop("--timeout 1s");
  assert.equal(life.pendingSignal.aborted, false); // a timeout serves what it accepted
  life.signal("SIGTERM", { drainDelay: LONG, drainTimeout: LONG });
  // No delay: nothing is accepted any more. The drain begins; sessions are not closed yet.
  assert.equal(life.pendingSignal.aborted, true);
  assert.equal(life.shutdownSignal.aborted, false);
  life.signal("SIGTERM", { drainDelay: LONG, drainTimeout: LONG });
  assert.equal(life.shutdownSignal.aborted, true);
  await life.close();
});

Deno.test("lifecycle: close() clears the delay and drain timers (no signal fires later)", async () => {
  const { life } = started();
  life.signal("SIGTERM", { drainDelay: LONG, drainTimeout: LONG });
  await life.close();
  // The test's op sanitizer fails here if a timer were left behind.
  assert.equal(life.stopping, false);
});
