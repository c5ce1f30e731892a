/**
 * The restart throttle that wrap mode's respawn and `--workers` share
 * (websockify's rule): a process may be started again once the mean of its
 * last three start times is at least the throttle ago. A process that fails
 * at once is then restarted about every throttle/3, not in a tight loop,
 * and one that ran for a while comes back at once.
 * @module
 */

/** The start times of one supervised process and the throttle between them. */
export class RespawnThrottle {
  readonly #throttleMs: number;
  readonly #now: () => number;
  readonly #starts = [0, 0, 0];

  /** `throttleSeconds` (wrap: 10); `now` is the clock in ms (tests). */
  constructor(throttleSeconds: number, now: () => number = Date.now) {
    this.#throttleMs = throttleSeconds * 1000;
    this.#now = now;
  }

  /** Notes a start (now). */
  started(): void {
    this.#starts.push(this.#now());
    this.#starts.shift();
  }

  /** Milliseconds until the next start is allowed; 0 = now. */
  waitMs(): number {
    const mean = this.#starts.reduce((a, b) => a + b, 0) / this.#starts.length;
    return Math.max(0, Math.ceil(mean + this.#throttleMs - this.#now()));
  }
}
