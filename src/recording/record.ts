/**
 * `--record FILE`: a copy of every relayed session's bytes, one file per
 * session, for debugging and for watching a session again
 * (`vncws replay`, noVNC's playback page).
 *
 * **Recordings contain secrets.** Everything the viewer sends is in them:
 * typed passwords and other keystrokes, clipboard text, VNC authentication
 * responses (which can be brute-forced offline against the recorded
 * challenge). Files are created with mode 0600; keep the directory private
 * and delete recordings when they are no longer needed.
 *
 * Two formats, chosen by the file name (or {@linkcode RecorderOptions.format}):
 * websockify's JavaScript array (default) and vncws's compact binary one
 * (`*.vncrec`), both described and encoded in codec.ts.
 * @module
 */
import { logWarn } from "../base/log.ts";
import {
  COMPACT_HEADER_BYTES,
  COMPACT_RECORD_HEADER_BYTES,
  compactPartHeader,
  compactRecord,
  FROM_CLIENT,
  type RecordFormat,
  recordFormatFor,
  recordingPath,
  TO_CLIENT,
  WEBSOCKIFY_HEAD,
  WEBSOCKIFY_TAIL,
  websockifyLine,
} from "./codec.ts";

/** Receives the bytes of one session, in the shape of the relay's `record` hooks. */
export interface Recorder {
  /** Path of the (first) file. */
  readonly path: string;
  /** Bytes from the client, before they are forwarded. Copies them; never blocks. */
  fromClient(data: Uint8Array): void;
  /** Bytes to the client, before they are forwarded. Copies them; never blocks. */
  toClient(data: Uint8Array): void;
  /** Ends the recording (writes the trailer) and resolves once the file is closed. */
  close(): Promise<void>;
}

/** Options for {@linkcode createRecorder}. */
export interface RecorderOptions {
  /** Default: "compact" when the path ends in `.vncrec`, else "websockify". */
  format?: RecordFormat;
  /** Compact format: start a new part when a part would grow beyond this (0 = never). */
  maxBytes?: number;
  /**
   * Bytes waiting for the disk beyond which recording stops for this session
   * (the disk cannot keep up); default 64 MiB.
   */
  maxPending?: number;
  /** Clock (ms since the epoch); tests pass a fake one. */
  now?: () => number;
  /** Called once when recording stops because of an error (default: a warning line). */
  onError?: (message: string, fields: Record<string, unknown>) => void;
}

type QueueItem = { bytes: Uint8Array } | { open: string };

const FLUSH_BYTES = 64 * 1024;
const FLUSH_DELAY_MS = 100;

/**
 * Writes queued bytes to files in the background: flushes when 64 KiB are
 * waiting or 100 ms after the first unflushed byte. The first error stops
 * it for good (reported once); callers never wait for the disk.
 */
class BackgroundWriter {
  readonly #queue: QueueItem[] = [];
  readonly #maxPending: number;
  readonly #fail: (message: string, fields: Record<string, unknown>) => void;
  #pending = 0;
  #file?: Deno.FsFile;
  #filePath = "";
  #running?: Promise<void>;
  #timer?: ReturnType<typeof setTimeout>;
  failed = false;

  constructor(maxPending: number, fail: (m: string, f: Record<string, unknown>) => void) {
    this.#maxPending = maxPending;
    this.#fail = fail;
  }

  open(path: string): void {
    this.#queue.push({ open: path });
    this.#kick(true);
  }

  push(bytes: Uint8Array): void {
    if (this.failed) return;
    this.#pending += bytes.length;
    if (this.#pending > this.#maxPending) {
      this.#stop(`recording stopped: more than ${this.#maxPending} bytes wait for the disk`, {});
      return;
    }
    this.#queue.push({ bytes });
    this.#kick(this.#pending >= FLUSH_BYTES);
  }

  #kick(now: boolean): void {
    if (this.failed || this.#running) return;
    if (now) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#running = this.#drain().finally(() => {
        this.#running = undefined;
        if (this.#queue.length > 0) this.#kick(this.#pending >= FLUSH_BYTES);
      });
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#kick(true);
      }, FLUSH_DELAY_MS);
    }
  }

  #stop(message: string, fields: Record<string, unknown>): void {
    if (this.failed) return;
    this.failed = true;
    this.#queue.length = 0;
    this.#pending = 0;
    clearTimeout(this.#timer);
    this.#fail(message, { file: this.#filePath, ...fields });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0 && !this.failed) {
        const item = this.#queue[0];
        if ("open" in item) {
          this.#queue.shift();
          this.#file?.close();
          this.#file = undefined;
          this.#filePath = item.open;
          this.#file = await openPrivate(item.open);
          continue;
        }
        // Coalesce consecutive byte items into one write.
        let n = 0;
        let size = 0;
        while (n < this.#queue.length && "bytes" in this.#queue[n]) {
          size += (this.#queue[n] as { bytes: Uint8Array }).bytes.length;
          n++;
        }
        const batch = new Uint8Array(size);
        let off = 0;
        for (const it of this.#queue.splice(0, n) as { bytes: Uint8Array }[]) {
          batch.set(it.bytes, off);
          off += it.bytes.length;
        }
        let w = 0;
        while (w < batch.length) w += await this.#file!.write(batch.subarray(w));
        this.#pending -= size;
      }
    } catch (e) {
      this.#stop("recording stopped; the session goes on", {
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }

  async close(): Promise<void> {
    if (!this.failed) this.#kick(true);
    while (this.#running) await this.#running;
    clearTimeout(this.#timer);
    try {
      this.#file?.close();
    } catch { /* already closed */ }
    this.#file = undefined;
  }
}

/**
 * Opens (truncates) a recording file with mode 0600. A symlink is refused
 * (someone could point it at a file we must not overwrite); an existing
 * regular file is set to 0600, since `mode` applies to new files only.
 */
async function openPrivate(path: string): Promise<Deno.FsFile> {
  let existing: Deno.FileInfo | undefined;
  try {
    existing = await Deno.lstat(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (existing?.isSymlink) {
    throw new Error(`${path} is a symlink; remove it or record elsewhere`);
  }
  const f = await Deno.open(path, { write: true, create: true, truncate: true, mode: 0o600 });
  if (existing?.isFile) await Deno.chmod(path, 0o600);
  return f;
}

/**
 * Starts recording session `id` to {@linkcode recordingPath}`(path, id)`.
 * Returns at once; the file is opened and written in the background. If the
 * file cannot be written (disk full, no permission), one warning is logged
 * and recording stops for this session; the session itself goes on.
 */
export function createRecorder(path: string, id: number, options: RecorderOptions = {}): Recorder {
  const format = options.format ?? recordFormatFor(path);
  const now = options.now ?? Date.now;
  const start = now();
  // A compact recording always has the .vncrec suffix, so replay can tell the format.
  const base = format === "compact" && !path.endsWith(".vncrec") ? `${path}.vncrec` : path;
  const first = format === "websockify" ? `${path}.${id}` : recordingPath(base, id);
  const onError = options.onError ??
    ((m: string, f: Record<string, unknown>) => logWarn(m, { session: id, ...f }));
  const writer = new BackgroundWriter(options.maxPending ?? 64 * 1024 * 1024, onError);
  let closed = false;

  if (format === "websockify") {
    writer.open(first);
    writer.push(WEBSOCKIFY_HEAD);
    const line = (dir: number, data: Uint8Array) => {
      if (closed || writer.failed) return;
      writer.push(websockifyLine(dir, Math.max(0, Math.floor(now() - start)), data));
    };
    return {
      path: first,
      fromClient: (data) => line(FROM_CLIENT, data),
      toClient: (data) => line(TO_CLIENT, data),
      close() {
        if (!closed) {
          closed = true;
          writer.push(WEBSOCKIFY_TAIL);
        }
        return writer.close();
      },
    };
  }

  const maxBytes = options.maxBytes ?? 0;
  let part = 0;
  let partBytes = 0;
  const startPart = () => {
    part++;
    writer.open(recordingPath(base, id, part));
    const h = compactPartHeader(part, start);
    writer.push(h);
    partBytes = h.length;
  };
  startPart();
  const record = (dir: number, data: Uint8Array) => {
    if (closed || writer.failed || data.length === 0) return;
    const size = COMPACT_RECORD_HEADER_BYTES + data.length;
    if (maxBytes > 0 && partBytes > COMPACT_HEADER_BYTES && partBytes + size > maxBytes) {
      startPart();
    }
    writer.push(compactRecord(dir, Math.floor(now() - start), data));
    partBytes += size;
  };
  return {
    path: first,
    fromClient: (data) => record(FROM_CLIENT, data),
    toClient: (data) => record(TO_CLIENT, data),
    close() {
      closed = true;
      return writer.close();
    },
  };
}
