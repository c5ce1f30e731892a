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

/** Something that can stop a race: an AbortSignal, or a {@linkcode StopGroup}. */
export type Stopper = AbortSignal | StopGroup;

/**
 * `p`'s value, or {@linkcode TIMEOUT} after `ms`, or {@linkcode STOPPED} once
 * `stop` is aborted (or its group stopped). `p` keeps running either way: a
 * caller that gives up on it should attach its own `catch`.
 */
export function raceTimeout<T>(
  p: Promise<T>,
  ms: number,
  stop?: Stopper,
): Promise<T | typeof TIMEOUT | typeof STOPPED> {
  if (stop && (stop instanceof StopGroup ? stop.stopped : stop.aborted)) {
    return Promise.resolve(STOPPED);
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let unsubscribe: (() => void) | undefined;
  const ended = new Promise<typeof TIMEOUT | typeof STOPPED>((resolve) => {
    timer = setTimeout(() => resolve(TIMEOUT), ms);
    if (!stop) return;
    const onStop = () => resolve(STOPPED);
    if (stop instanceof StopGroup) unsubscribe = stop.add(onStop);
    else {
      stop.addEventListener("abort", onStop, { once: true });
      unsubscribe = () => stop.removeEventListener("abort", onStop);
    }
  });
  return Promise.race([p, ended]).finally(() => {
    clearTimeout(timer);
    unsubscribe?.();
  });
}

/**
 * A stop for many races, cheaper than an AbortController where one is made
 * per session (the relay engine): plain callbacks, no events, and no
 * DOMException built when it stops.
 */
export class StopGroup {
  #callbacks?: Set<() => void>;
  /** Whether {@linkcode StopGroup.stop} was called. */
  stopped = false;

  /** Calls `fn` at {@linkcode StopGroup.stop}; returns the function that cancels that. */
  add(fn: () => void): () => void {
    (this.#callbacks ??= new Set()).add(fn);
    return () => this.#callbacks?.delete(fn);
  }

  /** Ends every race waiting on this group (once). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    const callbacks = this.#callbacks;
    this.#callbacks = undefined;
    if (callbacks) { for (const fn of callbacks) fn(); }
  }
}

/** One listener per signal that calls every callback in its set (see {@linkcode onAbort}). */
const fanOuts = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `fn` once when `signal` aborts (at once if it has); returns the
 * function that cancels that. Many callbacks on one signal (every session
 * on the server's shutdown signal) cost one listener on it and O(1) each to
 * add and remove: `addEventListener` scans the signal's listeners for a
 * duplicate on every call, so 10 000 sessions made each new one pay for all
 * the others.
 */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) {
    fn();
    return () => {};
  }
  let set = fanOuts.get(signal);
  if (!set) {
    const callbacks = new Set<() => void>();
    set = callbacks;
    fanOuts.set(signal, callbacks);
    signal.addEventListener("abort", () => {
      fanOuts.delete(signal);
      for (const cb of callbacks) cb();
    }, { once: true });
  }
  set.add(fn);
  const callbacks = set;
  return () => callbacks.delete(fn);
}
