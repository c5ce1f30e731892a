import assert from "node:assert/strict";
import { createRecorder } from "../../src/recording/record.ts";
import {
  COMPACT_HEADER_BYTES,
  escapeRecordData,
  FROM_CLIENT,
  recordingPath,
  TO_CLIENT,
  unescapeRecordData,
} from "../../src/recording/codec.ts";
import { skipUnless } from "../../scripts/testing/util.ts";
import { sleep } from "../../src/base/time.ts";

const te = new TextEncoder();

function fakeClock(start: number) {
  let t = start;
  return { now: () => t, set: (v: number) => t = v };
}

Deno.test("record: websockify format, byte-exact, mode 0600", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const clock = fakeClock(1_000_000);
    const errors: string[] = [];
    const rec = createRecorder(`${dir}/session`, 7, {
      now: clock.now,
      onError: (m) => errors.push(m),
    });
    assert.equal(rec.path, `${dir}/session.7`);
    rec.toClient(te.encode("RFB 003.008\n"));
    clock.set(1_000_012);
    const buf = new Uint8Array([0x00, 0xff, 0x27, 0x5c, 0x09, 0x0d, 0x7f, 0x41, 0x22, 0x0a]);
    rec.fromClient(buf);
    buf.fill(0x58); // the relay reuses its buffers: the recorder must have copied
    clock.set(1_000_250);
    rec.toClient(te.encode("it's"));
    await rec.close();
    const text = await Deno.readTextFile(`${dir}/session.7`);
    assert.equal(
      text,
      "var VNC_frame_data = [\n" +
        "'{0{RFB 003.008\\n',\n" +
        "'}12}\\x00\\xff\\'\\\\\\t\\r\\x7fA\"\\n',\n" +
        "'{250{it\\'s',\n" +
        "'EOF'];\n",
    );
    assert.equal((await Deno.stat(`${dir}/session.7`)).mode! & 0o777, 0o600);
    assert.deepEqual(errors, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "record: escaping matches Python's unicode_escape for every byte",
  ignore: skipUnless("/usr/bin/python3", "apt-get install python3"),
  fn: async () => {
    const all = new Uint8Array(256).map((_, i) => i);
    const out = await new Deno.Command("/usr/bin/python3", {
      args: [
        "-c",
        "import sys; b=bytes(range(256)); " +
        "sys.stdout.write(b.decode('latin1').encode('unicode_escape').decode('ascii').replace(\"'\", \"\\\\'\"))",
      ],
      stdout: "piped",
    }).output();
    const python = new TextDecoder().decode(out.stdout);
    assert.equal(escapeRecordData(all), python);
    assert.deepEqual(unescapeRecordData(python), all);
  },
});

Deno.test("record: unescape reads JavaScript escapes and refuses bad ones", () => {
  assert.deepEqual(
    unescapeRecordData('a\\u00e9\\0\\b\\f\\v\\"'),
    new Uint8Array([0x61, 0xe9, 0, 8, 12, 11, 0x22]),
  );
  assert.throws(() => unescapeRecordData("\\u0100"), /bad escape/);
  assert.throws(() => unescapeRecordData("\\q"), /bad escape/);
  assert.throws(() => unescapeRecordData("\\x4"), /bad escape/);
  assert.throws(() => unescapeRecordData("abc\\"), /bad escape/);
  assert.throws(() => unescapeRecordData("\u0101"), /above 0xff/);
});

Deno.test("record: an existing file is truncated and set to 0600; a symlink is refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/r.1`,
      "old content that is longer than the new one ".repeat(10),
      {
        mode: 0o644,
      },
    );
    Deno.chmodSync(`${dir}/r.1`, 0o644);
    const rec = createRecorder(`${dir}/r`, 1, { now: () => 5 });
    await rec.close();
    assert.equal(await Deno.readTextFile(`${dir}/r.1`), "var VNC_frame_data = [\n'EOF'];\n");
    assert.equal((await Deno.stat(`${dir}/r.1`)).mode! & 0o777, 0o600);

    await Deno.writeTextFile(`${dir}/victim`, "keep me");
    await Deno.symlink(`${dir}/victim`, `${dir}/r.2`);
    const errors: Array<[string, Record<string, unknown>]> = [];
    const rec2 = createRecorder(`${dir}/r`, 2, { onError: (m, f) => errors.push([m, f]) });
    rec2.toClient(te.encode("x"));
    await rec2.close();
    assert.equal(await Deno.readTextFile(`${dir}/victim`), "keep me");
    assert.equal(errors.length, 1);
    assert.match(String(errors[0][1].error), /is a symlink/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("record: an unwritable place is reported once and recording stops", async () => {
  const errors: Array<[string, Record<string, unknown>]> = [];
  const rec = createRecorder("/nonexistent-dir-for-vncws-test/rec", 3, {
    onError: (m, f) => errors.push([m, f]),
  });
  for (let i = 0; i < 100; i++) rec.toClient(new Uint8Array(1000));
  await sleep(150);
  for (let i = 0; i < 100; i++) rec.fromClient(new Uint8Array(1000));
  await rec.close();
  assert.equal(errors.length, 1, JSON.stringify(errors));
  assert.match(errors[0][0], /recording stopped; the session goes on/);
  assert.equal(errors[0][1].file, "/nonexistent-dir-for-vncws-test/rec.3");
});

Deno.test({
  name: "record: disk full (a /dev/full device node) is reported once; calls never throw",
  ignore: (() => {
    if (Deno.uid() === 0) return false;
    console.error("skipped: creating a /dev/full device node needs root");
    return true;
  })(),
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const mk = await new Deno.Command("mknod", { args: [`${dir}/full.1`, "c", "1", "7"] })
        .output();
      assert.ok(mk.success, new TextDecoder().decode(mk.stderr));
      const errors: Array<[string, Record<string, unknown>]> = [];
      const rec = createRecorder(`${dir}/full`, 1, { onError: (m, f) => errors.push([m, f]) });
      for (let i = 0; i < 200; i++) rec.toClient(new Uint8Array(4096));
      await sleep(200);
      for (let i = 0; i < 200; i++) rec.fromClient(new Uint8Array(4096));
      await rec.close();
      assert.equal(errors.length, 1, JSON.stringify(errors));
      assert.match(String(errors[0][1].error), /space/i);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("record: a writer that cannot keep up stops at maxPending", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const errors: string[] = [];
    const rec = createRecorder(`${dir}/slow`, 1, {
      maxPending: 10_000,
      onError: (m) => errors.push(m),
    });
    // All synchronous: nothing can reach the disk in between.
    for (let i = 0; i < 20; i++) rec.toClient(new Uint8Array(1000));
    await rec.close();
    assert.equal(errors.length, 1);
    assert.match(errors[0], /more than 10000 bytes wait for the disk/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function parseCompact(bytes: Uint8Array) {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const header = {
    magic: new TextDecoder().decode(bytes.subarray(0, 8)),
    version: bytes[8],
    part: bytes[9],
    start: v.getFloat64(10),
  };
  const records: Array<[number, number, number[]]> = [];
  let off = COMPACT_HEADER_BYTES;
  while (off < bytes.length) {
    const len = v.getUint32(off + 5);
    records.push([bytes[off], v.getUint32(off + 1), [...bytes.subarray(off + 9, off + 9 + len)]]);
    off += 9 + len;
  }
  assert.equal(off, bytes.length);
  return { header, records };
}

Deno.test("record: compact format, byte layout and size rotation", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const clock = fakeClock(1_700_000_000_123);
    const rec = createRecorder(`${dir}/s.vncrec`, 9, { now: clock.now, maxBytes: 60 });
    assert.equal(rec.path, `${dir}/s.9.vncrec`);
    assert.equal(recordingPath(`${dir}/s.vncrec`, 9, 2), `${dir}/s.9-2.vncrec`);
    rec.toClient(te.encode("RFB 003.008\n")); // 18 + 9 + 12 = 39
    clock.set(1_700_000_000_130);
    rec.fromClient(te.encode("RFB 003.008\n")); // 39 + 21 = 60: still fits
    clock.set(1_700_000_070_000);
    rec.toClient(new Uint8Array([1, 2, 3])); // would be 72 > 60: part 2
    rec.fromClient(new Uint8Array(0)); // empty chunks are not recorded
    await rec.close();
    const p1 = parseCompact(await Deno.readFile(`${dir}/s.9.vncrec`));
    const p2 = parseCompact(await Deno.readFile(`${dir}/s.9-2.vncrec`));
    assert.deepEqual(p1.header, {
      magic: "VNCWSREC",
      version: 1,
      part: 1,
      start: 1_700_000_000_123,
    });
    assert.deepEqual(p2.header, {
      magic: "VNCWSREC",
      version: 1,
      part: 2,
      start: 1_700_000_000_123,
    });
    const rfb = [...te.encode("RFB 003.008\n")];
    assert.deepEqual(p1.records, [[TO_CLIENT, 0, rfb], [FROM_CLIENT, 7, rfb]]);
    assert.deepEqual(p2.records, [[TO_CLIENT, 69877, [1, 2, 3]]]);
    assert.equal((await Deno.stat(`${dir}/s.9-2.vncrec`)).mode! & 0o777, 0o600);
    // The compact format can be forced on any name; the suffix is added.
    const r2 = createRecorder(`${dir}/plain`, 1, { format: "compact" });
    await r2.close();
    assert.equal(r2.path, `${dir}/plain.1.vncrec`);
    assert.equal((await Deno.stat(r2.path)).size, COMPACT_HEADER_BYTES);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("record: large sessions are written completely", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const rec = createRecorder(`${dir}/big.vncrec`, 1);
    const chunk = new Uint8Array(65536).map((_, i) => i & 0xff);
    for (let i = 0; i < 64; i++) {
      rec.toClient(chunk);
      if (i % 8 === 0) await sleep(1);
    }
    await rec.close();
    assert.equal(
      (await Deno.stat(rec.path)).size,
      COMPACT_HEADER_BYTES + 64 * (9 + 65536),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
