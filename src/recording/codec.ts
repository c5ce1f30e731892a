/**
 * The recording formats of `--record`, both directions in one place: the
 * bytes the recorder writes and the frames replay reads back, and the file
 * names of a session's recording.
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
 * `rec.vncrec` is `rec.<n>.vncrec`; with a size limit it rotates to
 * `rec.<n>-2.vncrec`, `rec.<n>-3.vncrec`, ... Each part:
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
import { exists } from "../base/fs.ts";

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

// ---- websockify format -------------------------------------------------

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The first line of a websockify recording. */
export const WEBSOCKIFY_HEAD: Uint8Array = encoder.encode("var VNC_frame_data = [\n");
/** The last line of a websockify recording. */
export const WEBSOCKIFY_TAIL: Uint8Array = encoder.encode("'EOF'];\n");

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

/** One websockify record line: `dir` is {@linkcode TO_CLIENT} or {@linkcode FROM_CLIENT}. */
export function websockifyLine(dir: number, ms: number, data: Uint8Array): Uint8Array {
  const mark = dir === TO_CLIENT ? "{" : "}";
  return encoder.encode(`'${mark}${ms}${mark}${escapeRecordData(data)}',\n`);
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

// ---- compact format ----------------------------------------------------

/** The header of compact part `part` of a session that started at `start` (ms since the epoch). */
export function compactPartHeader(part: number, start: number): Uint8Array {
  const h = new Uint8Array(COMPACT_HEADER_BYTES);
  h.set(encoder.encode(COMPACT_MAGIC));
  h[8] = 1;
  h[9] = Math.min(part, 255);
  new DataView(h.buffer).setFloat64(10, start);
  return h;
}

/** One compact record: direction byte, time, length, payload. */
export function compactRecord(dir: number, ms: number, data: Uint8Array): Uint8Array {
  const r = new Uint8Array(COMPACT_RECORD_HEADER_BYTES + data.length);
  const v = new DataView(r.buffer);
  r[0] = dir;
  v.setUint32(1, Math.min(0xffffffff, Math.max(0, ms)));
  v.setUint32(5, data.length);
  r.set(data, COMPACT_RECORD_HEADER_BYTES);
  return r;
}

// ---- reading -----------------------------------------------------------

/** One recorded chunk. */
export interface Frame {
  /** True for target → client bytes. */
  toClient: boolean;
  /** Milliseconds since the session start. */
  ms: number;
  /** The bytes. */
  data: Uint8Array;
}

/** A recording, read from a file (and its rotated parts). */
export interface Recording {
  /** The chunks of both directions, in recorded order. */
  frames: Frame[];
  /** The files read, in order. */
  files: string[];
}

/** A recording that cannot be replayed; the message says why. */
export class RecordingError extends Error {}

/** Parses the websockify (JavaScript) format. */
export function parseWebsockifyRecording(text: string, name = "recording"): Frame[] {
  const lines = text.split("\n");
  if (!/^\s*var\s+VNC_frame_data\s*=\s*\[\s*$/.test(lines[0] ?? "")) {
    throw new RecordingError(
      `${name} is not a recording: it does not start with "var VNC_frame_data = ["`,
    );
  }
  const frames: Frame[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line === "];") continue;
    if (/^'EOF'\s*\]?;?$/.test(line)) break;
    const m = /^'([{}])(\d+)([{}])(.*)',?$/.exec(line);
    if (!m || m[1] !== m[3]) {
      throw new RecordingError(`${name} line ${i + 1}: not a frame: ${line.slice(0, 60)}`);
    }
    let data: Uint8Array;
    try {
      data = unescapeRecordData(m[4]);
    } catch (e) {
      throw new RecordingError(`${name} line ${i + 1}: ${(e as Error).message}`);
    }
    frames.push({ toClient: m[1] === "{", ms: Number(m[2]), data });
  }
  return frames;
}

/** Parses one part of the compact format. */
export function parseCompactRecording(bytes: Uint8Array, name = "recording"): Frame[] {
  if (decoder.decode(bytes.subarray(0, 8)) !== COMPACT_MAGIC) {
    throw new RecordingError(`${name} is not a compact recording (no ${COMPACT_MAGIC} header)`);
  }
  if (bytes[8] !== 1) {
    throw new RecordingError(`${name}: compact format version ${bytes[8]} is not supported`);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frames: Frame[] = [];
  let off = COMPACT_HEADER_BYTES;
  while (off < bytes.length) {
    if (off + COMPACT_RECORD_HEADER_BYTES > bytes.length) {
      logWarn("replay: the recording ends inside a record header (cut short?)", { file: name });
      break;
    }
    const dir = bytes[off];
    const len = v.getUint32(off + 5);
    if (dir !== TO_CLIENT && dir !== FROM_CLIENT) {
      throw new RecordingError(`${name}: bad direction byte ${dir} at offset ${off}`);
    }
    const end = off + COMPACT_RECORD_HEADER_BYTES + len;
    if (end > bytes.length) {
      logWarn("replay: the recording ends inside a record (cut short?)", { file: name });
      break;
    }
    frames.push({
      toClient: dir === TO_CLIENT,
      ms: v.getUint32(off + 1),
      data: bytes.slice(off + COMPACT_RECORD_HEADER_BYTES, end),
    });
    off = end;
  }
  return frames;
}

/**
 * Reads a recording in either format. For the compact format, the parts
 * that follow the given one (`x.7.vncrec`, `x.7-2.vncrec`, ...) are read too.
 */
export async function readRecording(path: string): Promise<Recording> {
  const bytes = await Deno.readFile(path);
  if (decoder.decode(bytes.subarray(0, 8)) !== COMPACT_MAGIC) {
    return { frames: parseWebsockifyRecording(decoder.decode(bytes), path), files: [path] };
  }
  const frames = parseCompactRecording(bytes, path);
  const files = [path];
  const m = /^(.*\.\d+)(?:-(\d+))?\.vncrec$/.exec(path);
  if (m) {
    for (let part = Number(m[2] ?? 1) + 1;; part++) {
      const next = `${m[1]}-${part}.vncrec`;
      if (!exists(next)) break;
      frames.push(...parseCompactRecording(await Deno.readFile(next), next));
      files.push(next);
    }
  }
  return { frames, files };
}
