/**
 * One native timer for many deadlines: a binary heap of (time, callback)
 * ordered by time, with one `setTimeout` armed for the earliest. The relay
 * engine's per-session timers (idle timeout, heartbeat, ping timeout) live
 * here, so 10 000 sessions cost one timer, not 10 000 intervals that each
 * wake the event loop (issue 20). Cancelling removes the entry at once, and
 * the native timer is cleared when none is left: nothing keeps the process
 * (or a test's timer sanitizer) busy after the last session.
 * @module
 */

/** A scheduled callback; pass it to {@linkcode Deadlines.cancel}. */
export interface Deadline {
  /** When it runs (ms since the epoch). */
  readonly at: number;
  /** Position in the heap, -1 once it ran or was cancelled. */
  index: number;
  /** What runs when it is due. */
  readonly fn: () => void;
}

/** A set of deadlines sharing one timer. */
export class Deadlines {
  readonly #heap: Deadline[] = [];
  #timer?: ReturnType<typeof setTimeout>;
  /** When the armed timer fires (ms since the epoch), Infinity when none is armed. */
  #armedAt = Infinity;
  #running = false;

  /** Entries waiting (for tests and metrics). */
  get size(): number {
    return this.#heap.length;
  }

  /** Runs `fn` once, `ms` from now (at the earliest). */
  after(ms: number, fn: () => void): Deadline {
    return this.at(Date.now() + ms, fn);
  }

  /** Runs `fn` once at `at` (ms since the epoch), or soon after. */
  at(at: number, fn: () => void): Deadline {
    const d: Deadline = { at, fn, index: this.#heap.length };
    this.#heap.push(d);
    this.#up(d.index);
    if (!this.#running && at < this.#armedAt) this.#arm();
    return d;
  }

  /** Removes `d` if it has not run; harmless when it has or was cancelled. */
  cancel(d: Deadline | undefined): void {
    if (!d || d.index < 0) return;
    const i = d.index;
    d.index = -1;
    const last = this.#heap.pop()!;
    if (last !== d) {
      this.#heap[i] = last;
      last.index = i;
      this.#down(i);
      this.#up(last.index);
    }
    if (this.#heap.length === 0 && this.#timer !== undefined && !this.#running) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#armedAt = Infinity;
    }
  }

  /** Arms the native timer for the earliest entry (or clears it when there is none). */
  #arm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedAt = Infinity;
    const first = this.#heap[0];
    if (!first) return;
    this.#armedAt = first.at;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, first.at - Date.now()));
  }

  /** Runs every entry that is due, then re-arms for the next. */
  #fire(): void {
    this.#timer = undefined;
    this.#armedAt = Infinity;
    this.#running = true;
    try {
      const now = Date.now();
      for (let d = this.#heap[0]; d !== undefined && d.at <= now; d = this.#heap[0]) {
        this.cancel(d);
        try {
          d.fn();
        } catch (e) {
          // one session's failure must not stop the others' timers
          queueMicrotask(() => {
            throw e;
          });
        }
      }
    } finally {
      this.#running = false;
      this.#arm();
    }
  }

  #up(i: number): void {
    const heap = this.#heap;
    const d = heap[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (heap[p].at <= d.at) break;
      heap[i] = heap[p];
      heap[i].index = i;
      i = p;
    }
    heap[i] = d;
    d.index = i;
  }

  #down(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const d = heap[i];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && heap[r].at < heap[l].at ? r : l;
      if (heap[c].at >= d.at) break;
      heap[i] = heap[c];
      heap[i].index = i;
      i = c;
    }
    heap[i] = d;
    d.index = i;
  }
}

/** The process's deadlines: every relay session's timers share its one native timer. */
export const deadlines: Deadlines = new Deadlines();
