import assert from "node:assert/strict";
import {
  compactPartHeader,
  compactRecord,
  FROM_CLIENT,
  parseCompactRecording,
  parseWebsockifyRecording,
  RecordingError,
  TO_CLIENT,
  WEBSOCKIFY_HEAD,
  WEBSOCKIFY_TAIL,
  websockifyLine,
} from "../../src/recording/codec.ts";
import { concatBytes } from "../../src/base/bytes.ts";

const all = new Uint8Array(256).map((_, i) => i);
const frames = [
  { toClient: true, ms: 0, data: new TextEncoder().encode("RFB 003.008\n") },
  { toClient: false, ms: 12, data: all },
  { toClient: true, ms: 70_000, data: new Uint8Array([0x27, 0x5c, 0x0a]) },
];

Deno.test("codec: what the websockify encoder writes, the decoder reads back", () => {
  const text = new TextDecoder().decode(concatBytes([
    WEBSOCKIFY_HEAD,
    ...frames.map((f) => websockifyLine(f.toClient ? TO_CLIENT : FROM_CLIENT, f.ms, f.data)),
    WEBSOCKIFY_TAIL,
  ]));
  assert.deepEqual(parseWebsockifyRecording(text), frames);
});

Deno.test("codec: what the compact encoder writes, the decoder reads back; junk is refused", () => {
  const bytes = concatBytes([
    compactPartHeader(1, Date.UTC(2026, 0, 1)),
    ...frames.map((f) => compactRecord(f.toClient ? TO_CLIENT : FROM_CLIENT, f.ms, f.data)),
  ]);
  assert.deepEqual(parseCompactRecording(bytes), frames);
  // A record cut short is dropped (with a warning), the ones before it kept.
  assert.deepEqual(parseCompactRecording(bytes.subarray(0, bytes.length - 1)), frames.slice(0, 2));
  const bad = bytes.slice();
  bad[18] = 0x41;
  assert.throws(() => parseCompactRecording(bad), RecordingError);
  assert.throws(() => parseCompactRecording(new Uint8Array(18)), /not a compact recording/);
});
