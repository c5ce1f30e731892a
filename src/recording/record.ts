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
 *
 * **websockify** (default; any name not ending in `.vncrec`): the file is
 * `FILE.<n>` (`n` = connection number) and holds a JavaScript array, the same
 * bytes websockify writes:
 * ```
 * var VNC_frame_data = [
 * '{12{RFB 003.008\n',       <- to the client: '{' ms '{' data
 * '}15}RFB 003.008\n',       <- from the client: '}' ms '}' data
 * 'EOF'];
 * ```
 * `ms` counts from the session start. Data bytes are written as Python's
 * `unicode_escape` of their latin1 text writes them (printable ASCII as is,
 * `\\`, `\t`, `\n`, `\r`, other bytes `\xhh` in lower case) with `'` as `\'`.
 *
 * **compact** (`FILE` ends in `.vncrec`): binary, about a quarter of the
 * size of the websockify format. The file for connection `n` of
 * `rec.vncrec` is `rec.<n>.vncrec`; with {@linkcode RecorderOptions.maxBytes}
 * it rotates to `rec.<n>-2.vncrec`, `rec.<n>-3.vncrec`, ... Each part:
 * ```
 * header  8 bytes  "VNCWSREC"
 *         1 byte   version (1)
 *         1 byte   part number (1, 2, ...)
 *         8 bytes  session start, ms since the epoch (float64, big-endian)
 * record  1 byte   direction: 0x7b '{' to the client, 0x7d '}' from the client
 *         4 bytes  ms since the session start (uint32, big-endian)
 *         4 bytes  payload length (uint32, big-endian)
 *         payload
 * ```
 * A record is never split across parts.
 * @module
 */
import { logWarn } from "../base/log.ts";

/** Recording file formats. */
export type RecordFormat = "websockify" | "compact";

/** Magic bytes at the start of every compact recording part. */
export const COMPACT_MAGIC = "VNCWSREC";
/** Size of a compact part header. */
export const COMPACT_HEADER_BYTES = 18;
/** Size of a compact record header. */
export const COMPACT_RECORD_HEADER_BYTES = 9;
/** Direction byte: target → client. */
export const TO_CLIENT = 0x7b;
/** Direction byte: client → target. */
export const FROM_CLIENT = 0x7d;

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

/** The format a `--record` path selects. */
export function recordFormatFor(path: string): RecordFormat {
  return path.endsWith(".vncrec") ? "compact" : "websockify";
}

/** The file a session's recording goes to (part ≥ 2 only for the compact format). */
export function recordingPath(path: string, id: number, part = 1): string {
  if (recordFormatFor(path) === "websockify") return `${path}.${id}`;
  const base = path.slice(0, -".vncrec".length);
  return part === 1 ? `${base}.${id}.vncrec` : `${base}.${id}-${part}.vncrec`;
}

const ESCAPED: string[] = Array.from({ length: 256 }, (_, b) => {
  if (b === 0x5c) return "\\\\";
  if (b === 0x27) return "\\'";
  if (b === 0x09) return "\\t";
  if (b === 0x0a) return "\\n";
  if (b === 0x0d) return "\\r";
  if (b >= 0x20 && b < 0x7f) return String.fromCharCode(b);
  return "\\x" + b.toString(16).padStart(2, "0");
});

/** Bytes as websockify writes them in a record line (see the module doc). */
export function escapeRecordData(data: Uint8Array): string {
  let s = "";
  for (let i = 0; i < data.length; i++) s += ESCAPED[data[i]];
  return s;
}

const SIMPLE_ESCAPES: Record<string, number> = {
  "\\": 0x5c,
  "'": 0x27,
  '"': 0x22,
  t: 0x09,
  n: 0x0a,
  r: 0x0d,
  b: 0x08,
  f: 0x0c,
  v: 0x0b,
  a: 0x07,
  "0": 0x00,
};

/**
 * The bytes of a record line's data (inverse of {@linkcode escapeRecordData};
 * also reads `\uXXXX` up to 0xff and the other JavaScript escapes).
 */
export function unescapeRecordData(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x5c) {
      if (c > 0xff) throw new Error(`record data has a character above 0xff at ${i}`);
      out[n++] = c;
      continue;
    }
    const e = text[++i];
    if (e === "x" || e === "u") {
      const len = e === "x" ? 2 : 4;
      const hex = text.slice(i + 1, i + 1 + len);
      const v = /^[0-9a-fA-F]+$/.test(hex) && hex.length === len ? parseInt(hex, 16) : NaN;
      if (!(v <= 0xff)) throw new Error(`bad escape \\${e}${hex} in record data`);
      out[n++] = v;
      i += len;
    } else if (e !== undefined && e in SIMPLE_ESCAPES) {
      out[n++] = SIMPLE_ESCAPES[e];
    } else {
      throw new Error(`bad escape \\${e ?? "(end)"} in record data`);
    }
  }
  return out.slice(0, n);
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

const encoder = new TextEncoder();

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
    writer.push(encoder.encode("var VNC_frame_data = [\n"));
    const line = (mark: string, data: Uint8Array) => {
      if (closed || writer.failed) return;
      const ms = Math.max(0, Math.floor(now() - start));
      writer.push(encoder.encode(`'${mark}${ms}${mark}${escapeRecordData(data)}',\n`));
    };
    return {
      path: first,
      fromClient: (data) => line("}", data),
      toClient: (data) => line("{", data),
      close() {
        if (!closed) {
          closed = true;
          writer.push(encoder.encode("'EOF'];\n"));
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
    const h = new Uint8Array(COMPACT_HEADER_BYTES);
    h.set(encoder.encode(COMPACT_MAGIC));
    h[8] = 1;
    h[9] = Math.min(part, 255);
    new DataView(h.buffer).setFloat64(10, start);
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
    const r = new Uint8Array(size);
    const v = new DataView(r.buffer);
    r[0] = dir;
    v.setUint32(1, Math.min(0xffffffff, Math.max(0, Math.floor(now() - start))));
    v.setUint32(5, data.length);
    r.set(data, COMPACT_RECORD_HEADER_BYTES);
    writer.push(r);
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
