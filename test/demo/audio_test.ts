/**
 * The demo's tone: message layouts of QEMU's audio extension, samples in
 * every format the client may ask for (a 440 Hz sine: its zero crossings
 * counted), formats refused, and the stream's begin/data/end.
 */
import assert from "node:assert/strict";
import {
  audioAnnouncement,
  audioControl,
  audioFormatProblem,
  QEMU_AUDIO_ENCODING,
  toneMessage,
  ToneStream,
} from "../../src/demo/audio.ts";
import { sleep } from "../../src/base/time.ts";
import { waitUntil } from "../../scripts/testing/util.ts";
import { samples, zeroCrossings } from "./_audio.ts";

Deno.test("audio: the announcement is a FramebufferUpdate of one -259 rectangle, no data", () => {
  const a = audioAnnouncement(800, 600);
  const v = new DataView(a.buffer);
  assert.equal(a.length, 16);
  assert.deepEqual([a[0], v.getUint16(2)], [0, 1]);
  assert.deepEqual([v.getUint16(4), v.getUint16(6), v.getUint16(8), v.getUint16(10)], [
    0,
    0,
    800,
    600,
  ]);
  assert.equal(v.getInt32(12), QEMU_AUDIO_ENCODING);
  assert.deepEqual([...audioControl(1)], [255, 1, 0, 1]);
  assert.deepEqual([...audioControl(0)], [255, 1, 0, 0]);
});

Deno.test("audio: one second of tone in every sample format is a 440 Hz sine", () => {
  for (let sampleFormat = 0; sampleFormat <= 5; sampleFormat++) {
    for (const channels of [1, 2]) {
      const format = { sampleFormat, channels, frequency: 8000 };
      const msg = toneMessage(format, 0, 8000);
      const length = new DataView(msg.buffer).getUint32(4);
      const bytes = [1, 1, 2, 2, 4, 4][sampleFormat];
      assert.deepEqual([...msg.subarray(0, 4)], [255, 1, 0, 2]);
      assert.equal(length, 8000 * channels * bytes, `format ${sampleFormat}`);
      assert.equal(msg.length, 8 + length);
      for (let c = 0; c < channels; c++) {
        const s = samples(msg, format, c);
        const crossings = zeroCrossings(s);
        assert.ok(Math.abs(crossings - 880) <= 2, `format ${sampleFormat}: ${crossings} crossings`);
        const peak = Math.max(...s.map(Math.abs));
        const full = 2 ** (bytes * 8 - 1);
        assert.ok(peak > full / 8 && peak <= full / 4 + 1, `format ${sampleFormat}: peak ${peak}`);
      }
    }
  }
});

Deno.test("audio: a chunk that starts where the last ended continues the wave", () => {
  const format = { sampleFormat: 3, channels: 1, frequency: 44100 };
  const whole = samples(toneMessage(format, 0, 2000), format);
  const parts = [
    ...samples(toneMessage(format, 0, 1000), format),
    ...samples(toneMessage(format, 1000, 1000), format),
  ];
  assert.deepEqual(parts, whole);
  // Not from frame 0 again: a chunk started at 0 twice differs.
  const restarted = [
    ...samples(toneMessage(format, 0, 1000), format),
    ...samples(toneMessage(format, 0, 1000), format),
  ];
  assert.notDeepEqual(restarted, whole);
});

Deno.test("audio: formats outside the extension's are named", () => {
  assert.equal(audioFormatProblem({ sampleFormat: 3, channels: 2, frequency: 44100 }), undefined);
  assert.match(audioFormatProblem({ sampleFormat: 6, channels: 2, frequency: 44100 })!, /format 6/);
  assert.match(audioFormatProblem({ sampleFormat: 3, channels: 3, frequency: 44100 })!, /3 chan/);
  assert.match(audioFormatProblem({ sampleFormat: 3, channels: 1, frequency: 0 })!, /frequency 0/);
  assert.match(
    audioFormatProblem({ sampleFormat: 3, channels: 1, frequency: 10_000_000 })!,
    /frequency/,
  );
});

Deno.test("audio: a stream sends begin, data while playing, then end; stopped quietly, no end", async () => {
  const sent: Uint8Array[] = [];
  const tone = new ToneStream((d) => (sent.push(d), Promise.resolve()));
  tone.setFormat({ sampleFormat: 1, channels: 1, frequency: 8000 });
  assert.equal(tone.playing, false);
  tone.start();
  tone.start(); // once only
  assert.equal(tone.playing, true);
  await waitUntil(() => sent.length >= 3, "two data messages");
  tone.stop();
  assert.equal(tone.playing, false);
  const ops = sent.map((m) => m[3]);
  assert.equal(ops[0], 1);
  assert.ok(ops.slice(1, -1).every((o) => o === 2), String(ops));
  assert.equal(ops.at(-1), 0);
  const count = sent.length;
  await sleep(100);
  assert.equal(sent.length, count, "nothing after the end");
  tone.start();
  tone.stop(false);
  assert.equal(sent.at(-1)![3], 1, "a viewer that left gets no end message");
});
