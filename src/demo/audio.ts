/**
 * The demo's sound: a 440 Hz test tone over QEMU's audio extension (RFB
 * pseudo-encoding -259). A viewer that lists the pseudo-encoding is told the
 * server supports it (a FramebufferUpdate rectangle of that encoding); when
 * it enables audio (QEMU client message 255, subtype 1), the tone streams
 * in the format it asked for, as QEMU server messages of subtype 1:
 * begin, then data every {@linkcode CHUNK_MS} ms, then end when disabled.
 *
 * Samples are little-endian (what QEMU sends from x86 hosts), channels
 * interleaved, at a quarter of full scale.
 * @module
 */

/** QEMU's audio pseudo-encoding. */
export const QEMU_AUDIO_ENCODING: number = -259;
/** The tone's frequency, in Hz. */
export const TONE_HZ: number = 440;
/** Milliseconds of sound per data message. */
export const CHUNK_MS: number = 40;

/** Server message 255 (QEMU), subtype 1 (audio): the operations. */
export const QemuAudioServerOperation = { End: 0, Begin: 1, Data: 2 } as const;

/** A sample format, as the client's set-format message names it. */
export interface AudioFormat {
  /** 0 U8, 1 S8, 2 U16, 3 S16, 4 U32, 5 S32. */
  sampleFormat: number;
  /** 1 (mono) or 2 (stereo). */
  channels: number;
  /** Samples per second per channel. */
  frequency: number;
}

/** QEMU's format until the client sets one: S16 stereo at 44.1 kHz. */
export const DEFAULT_AUDIO_FORMAT: AudioFormat = { sampleFormat: 3, channels: 2, frequency: 44100 };

/** Bytes per sample by sample format. */
const SAMPLE_BYTES = [1, 1, 2, 2, 4, 4];
/** The highest sample rate the demo streams (the message is bounded by it). */
const MAX_FREQUENCY = 192000;

/** Why `format` cannot be streamed, or undefined when it can. */
export function audioFormatProblem(format: AudioFormat): string | undefined {
  if (!(format.sampleFormat in SAMPLE_BYTES)) {
    return `sample format ${format.sampleFormat} (0 to 5 are defined)`;
  }
  if (format.channels !== 1 && format.channels !== 2) return `${format.channels} channels`;
  if (format.frequency < 1 || format.frequency > MAX_FREQUENCY) {
    return `frequency ${format.frequency} Hz (1 to ${MAX_FREQUENCY})`;
  }
  return undefined;
}

/** The FramebufferUpdate that tells the viewer the server has audio: one rectangle, no data. */
export function audioAnnouncement(width: number, height: number): Uint8Array {
  const out = new Uint8Array(16);
  const v = new DataView(out.buffer);
  v.setUint8(0, 0); // FramebufferUpdate
  v.setUint16(2, 1);
  v.setUint16(8, width);
  v.setUint16(10, height);
  v.setInt32(12, QEMU_AUDIO_ENCODING);
  return out;
}

/** A begin or end message (server message 255, subtype 1). */
export function audioControl(operation: 0 | 1): Uint8Array {
  return new Uint8Array([255, 1, 0, operation]);
}

/**
 * A data message carrying `frames` frames of the tone from frame `start`
 * on (so consecutive chunks join without a click).
 */
export function toneMessage(format: AudioFormat, start: number, frames: number): Uint8Array {
  const bytes = SAMPLE_BYTES[format.sampleFormat];
  const length = frames * format.channels * bytes;
  const out = new Uint8Array(8 + length);
  const v = new DataView(out.buffer);
  v.setUint8(0, 255);
  v.setUint8(1, 1);
  v.setUint16(2, QemuAudioServerOperation.Data);
  v.setUint32(4, length);
  const bits = bytes * 8;
  const amplitude = 2 ** (bits - 1) / 4;
  const unsigned = format.sampleFormat % 2 === 0;
  let off = 8;
  for (let i = 0; i < frames; i++) {
    const s = Math.round(
      amplitude * Math.sin(2 * Math.PI * TONE_HZ * (start + i) / format.frequency),
    );
    const value = unsigned ? s + 2 ** (bits - 1) : s;
    for (let c = 0; c < format.channels; c++, off += bytes) {
      if (bytes === 1) v.setUint8(off, value & 0xff);
      else if (bytes === 2) v.setUint16(off, value & 0xffff, true);
      else v.setUint32(off, value >>> 0, true);
    }
  }
  return out;
}

/** One viewer's tone: started, fed by a timer, stopped. */
export class ToneStream {
  #format: AudioFormat = DEFAULT_AUDIO_FORMAT;
  #timer: ReturnType<typeof setInterval> | undefined;
  #frame = 0;
  #busy = false;
  /** Queues a message to the viewer; resolves once it is written. */
  #send: (data: Uint8Array) => Promise<void>;

  /** A stream whose messages go out through `send`. */
  constructor(send: (data: Uint8Array) => Promise<void>) {
    this.#send = send;
  }

  /** Whether the tone is streaming. */
  get playing(): boolean {
    return this.#timer !== undefined;
  }

  /** Sets the format of the samples from the next chunk on. */
  setFormat(format: AudioFormat): void {
    this.#format = format;
  }

  /** Starts streaming (a begin message, then data); nothing when already streaming. */
  start(): void {
    if (this.#timer !== undefined) return;
    void this.#send(audioControl(QemuAudioServerOperation.Begin));
    this.#timer = setInterval(() => this.#chunk(), CHUNK_MS);
  }

  /** Stops streaming; sends the end message unless the viewer is gone (`tell` false). */
  stop(tell = true): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (tell) void this.#send(audioControl(QemuAudioServerOperation.End));
  }

  #chunk(): void {
    // A viewer that reads slower than the tone plays skips chunks instead of queueing them.
    if (this.#busy) return;
    const frames = Math.max(1, Math.round(this.#format.frequency * CHUNK_MS / 1000));
    const msg = toneMessage(this.#format, this.#frame, frames);
    this.#frame = (this.#frame + frames) % this.#format.frequency;
    this.#busy = true;
    this.#send(msg).finally(() => this.#busy = false);
  }
}
