/**
 * Waiting: a sleep that an AbortSignal can cut short, and a race of a
 * promise against a deadline and a stop signal, the two shapes every layer
 * needs. Timers are always cleared, so nothing keeps the process alive.
 * @module
 */

/** Resolves after `ms`, or at once when `signal` is (or becomes) aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** What {@linkcode raceTimeout} resolves when `ms` passed first. */
export const TIMEOUT: unique symbol = Symbol("timeout");
/** What {@linkcode raceTimeout} resolves when the stop signal came first. */
export const STOPPED: unique symbol = Symbol("stopped");

/**
 * `p`'s value, or {@linkcode TIMEOUT} after `ms`, or {@linkcode STOPPED} once
 * `stop` is aborted. `p` keeps running either way: a caller that gives up
 * on it should attach its own `catch`.
 */
export function raceTimeout<T>(
  p: Promise<T>,
  ms: number,
  stop?: AbortSignal,
): Promise<T | typeof TIMEOUT | typeof STOPPED> {
  if (stop?.aborted) return Promise.resolve(STOPPED);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onStop: (() => void) | undefined;
  return Promise.race([
    p,
    new Promise<typeof TIMEOUT>((r) => timer = setTimeout(() => r(TIMEOUT), ms)),
    new Promise<typeof STOPPED>((r) => {
      onStop = () => r(STOPPED);
      stop?.addEventListener("abort", onStop, { once: true });
    }),
  ]).finally(() => {
    clearTimeout(timer);
    if (onStop) stop?.removeEventListener("abort", onStop);
  });
}
