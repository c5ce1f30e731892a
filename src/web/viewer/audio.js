// QEMU's audio extension, which noVNC lacks: a viewer lists pseudo-encoding
// -259, the server answers with a rectangle of that encoding when it has
// audio, and then QEMU messages (type 255, subtype 1) carry it: the client's
// enable / disable / set-format, the server's begin / data / end. Samples are
// little-endian, in the format the client set.
//
// HOOK INTO NOVNC INTERNALS. noVNC 1.7.0 (pinned in deno.json) has no public
// hook for new encodings or server messages, so AudioRFB overrides three of
// RFB's private methods and uses its socket's queue:
// - _sendEncodings(): lists -259 beside noVNC's own encodings (by wrapping
//   RFB.messages.clientEncodings for the length of the call);
// - _handleRect(): takes the -259 rectangle (noVNC would fail on it);
// - _normalMsg(): takes server message 255 before noVNC's dispatch (which
//   ends the session on a type it does not know), reading _FBU.rects and
//   _sock (rQlen, rQpeek8, rQpeekBytes, rQskipBytes, rQshiftBytes, sQpush*,
//   flush) and calling _fail.
// An upgrade of noVNC that renames or reshapes any of these breaks
// test/browser/viewer_audio_test.ts loudly (no toggle, or no samples).

import { RFB } from "./novnc.js";

/** Pseudo-encoding: the server has QEMU audio. */
export const AUDIO_ENCODING = -259;
const QEMU_MESSAGE = 255;
const AUDIO_SUBTYPE = 1;
const CLIENT_OP = { enable: 0, disable: 1, setFormat: 2 };
const SERVER_OP = { end: 0, begin: 1, data: 2 };
/** Bytes per sample by QEMU sample format: U8, S8, U16, S16, U32, S32. */
const SAMPLE_BYTES = [1, 1, 2, 2, 4, 4];
/** What the page asks for: signed 16-bit stereo (rate: the AudioContext's). */
const S16 = 3;
/** A data message larger than this is refused (about 5 s of 192 kHz S32 stereo). */
const MAX_DATA_BYTES = 8 * 1024 * 1024;

/**
 * noVNC's RFB with QEMU audio. Events: "audioavailable" (the server has
 * audio), "audiobegin", "audioend", "audiodata" ({ data: Uint8Array }).
 */
export class AudioRFB extends RFB {
  /** Whether the server announced audio on this connection. */
  audioAvailable = false;

  /** Asks for samples in `sampleFormat` (0-5), `channels` (1, 2) at `frequency` Hz. */
  audioSetFormat(sampleFormat, channels, frequency) {
    this.#qemuAudio(CLIENT_OP.setFormat, (sock) => {
      sock.sQpush8(sampleFormat);
      sock.sQpush8(channels);
      sock.sQpush32(frequency);
    });
  }

  /** Starts the stream. */
  audioEnable() {
    this.#qemuAudio(CLIENT_OP.enable);
  }

  /** Stops the stream. */
  audioDisable() {
    this.#qemuAudio(CLIENT_OP.disable);
  }

  #qemuAudio(op, body) {
    if (this._rfbConnectionState !== "connected" || !this.audioAvailable) return;
    const sock = this._sock;
    sock.sQpush8(QEMU_MESSAGE);
    sock.sQpush8(AUDIO_SUBTYPE);
    sock.sQpush16(op);
    body?.(sock);
    sock.flush();
  }

  _sendEncodings() {
    const messages = RFB.messages;
    const send = messages.clientEncodings;
    messages.clientEncodings = (sock, encs) => send.call(messages, sock, [...encs, AUDIO_ENCODING]);
    try {
      super._sendEncodings();
    } finally {
      messages.clientEncodings = send;
    }
  }

  _handleRect() {
    if (this._FBU.encoding !== AUDIO_ENCODING) return super._handleRect();
    if (!this.audioAvailable) {
      this.audioAvailable = true;
      this.dispatchEvent(new CustomEvent("audioavailable", { detail: {} }));
    }
    return true;
  }

  _normalMsg() {
    // Inside a FramebufferUpdate the next byte is a rectangle, not a message type.
    if (this._FBU.rects > 0 || this._sock.rQpeek8() !== QEMU_MESSAGE) return super._normalMsg();
    return this.#qemuMessage();
  }

  /** One QEMU server message, consumed only once whole (false: wait for more). */
  #qemuMessage() {
    const sock = this._sock;
    if (sock.rQlen() < 4) return false;
    const head = sock.rQpeekBytes(8, false);
    if (head[1] !== AUDIO_SUBTYPE) {
      this._fail(`Unexpected QEMU server message (subtype ${head[1]})`);
      return true;
    }
    const op = (head[2] << 8) | head[3];
    if (op === SERVER_OP.data) {
      if (sock.rQlen() < 8) return false;
      const length = ((head[4] << 24) | (head[5] << 16) | (head[6] << 8) | head[7]) >>> 0;
      if (length > MAX_DATA_BYTES) {
        this._fail(`QEMU audio data message of ${length} bytes is too large`);
        return true;
      }
      if (sock.rQlen() < 8 + length) return false;
      sock.rQskipBytes(8);
      const data = sock.rQshiftBytes(length);
      this.dispatchEvent(new CustomEvent("audiodata", { detail: { data } }));
      return true;
    }
    if (op !== SERVER_OP.begin && op !== SERVER_OP.end) {
      this._fail(`Unexpected QEMU audio operation ${op}`);
      return true;
    }
    sock.rQskipBytes(4);
    const name = op === SERVER_OP.begin ? "audiobegin" : "audioend";
    this.dispatchEvent(new CustomEvent(name, { detail: {} }));
    return true;
  }
}

/** Decodes little-endian samples of QEMU `sampleFormat` into per-channel floats. */
export function decodeSamples(data, sampleFormat, channels) {
  const bytes = SAMPLE_BYTES[sampleFormat];
  const unsigned = sampleFormat % 2 === 0;
  const frames = Math.floor(data.length / (bytes * channels));
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const full = 2 ** (bytes * 8 - 1);
  const out = Array.from({ length: channels }, () => new Float32Array(frames));
  for (let f = 0, off = 0; f < frames; f++) {
    for (let c = 0; c < channels; c++, off += bytes) {
      let v = bytes === 1
        ? view.getUint8(off)
        : bytes === 2
        ? view.getUint16(off, true)
        : view.getUint32(off, true);
      if (unsigned) v -= full;
      else if (v >= full) v -= 2 * full;
      out[c][f] = v / full;
    }
  }
  return out;
}

/**
 * Plays an AudioRFB's stream through WebAudio, buffers scheduled back to back.
 * `stats` is what a test can read: frames decoded, buffers scheduled, and the
 * zero crossings of the first channel (hz ≈ crossings / 2 / seconds).
 */
export class AudioPlayer {
  /** The AudioContext, made on the first unmute (browsers need a gesture). */
  context = null;
  #next = 0;
  #lastSign = 0;
  stats = { enabled: false, streaming: false, messages: 0, samples: 0, scheduled: 0, hz: 0 };
  #crossings = 0;
  #rate = 44100;

  /** Unmutes: makes or resumes the context, asks `rfb` for S16 stereo, enables. */
  async unmute(rfb) {
    try {
      this.context ??= new AudioContext();
      await this.context.resume();
      this.#rate = Math.round(this.context.sampleRate);
    } catch {
      // No audio output here: the stream is still decoded (and counted), not played.
    }
    rfb.audioSetFormat(S16, 2, this.#rate);
    rfb.audioEnable();
    this.stats.enabled = true;
  }

  /** Mutes: asks `rfb` (if still there) to stop, and lets what is scheduled run out. */
  mute(rfb) {
    rfb?.audioDisable();
    this.stats.enabled = false;
  }

  /** Follows `rfb`'s audio events. */
  attach(rfb) {
    rfb.addEventListener("audiobegin", () => {
      this.stats.streaming = true;
      this.#next = 0;
    });
    rfb.addEventListener("audioend", () => {
      this.stats.streaming = false;
    });
    rfb.addEventListener("audiodata", (e) => this.#play(e.detail.data));
  }

  #play(data) {
    const channels = decodeSamples(data, S16, 2);
    const frames = channels[0].length;
    this.stats.messages++;
    this.stats.samples += frames;
    for (const v of channels[0]) {
      const sign = v > 0 ? 1 : v < 0 ? -1 : 0;
      if (sign !== 0 && this.#lastSign !== 0 && sign !== this.#lastSign) this.#crossings++;
      if (sign !== 0) this.#lastSign = sign;
    }
    this.stats.hz = Math.round(this.#crossings / 2 / (this.stats.samples / this.#rate));
    const ctx = this.context;
    if (ctx === null || frames === 0 || !this.stats.enabled) return;
    const buffer = ctx.createBuffer(2, frames, this.#rate);
    buffer.copyToChannel(channels[0], 0);
    buffer.copyToChannel(channels[1], 1);
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(ctx.destination);
    // A little ahead of now, and back to back after that; start over when
    // late, or when more than half a second queued up (a stalled output).
    const now = ctx.currentTime;
    if (this.#next < now + 0.02 || this.#next > now + 0.5) this.#next = now + 0.1;
    source.start(this.#next);
    this.#next += frames / this.#rate;
    this.stats.scheduled++;
  }
}
