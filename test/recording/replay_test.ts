import assert from "node:assert/strict";
import { createRecorder } from "../../src/recording/record.ts";
import { readRecording, RecordingError } from "../../src/recording/codec.ts";
import { planReplay } from "../../src/recording/replay_plan.ts";
import { startReplayServer } from "../../src/recording/replay_server.ts";
import { replayMain } from "../../src/cli/replay.ts";
import { readExactly } from "../../scripts/testing/util.ts";
import { configureLog } from "../../src/base/log.ts";
import { raceTimeout, sleep, TIMEOUT } from "../../src/base/time.ts";
import { be16, be32, PF16, recordDemoSession, viewerHandshake } from "./_rfb.ts";
import { listenerFailingOnce } from "../base/_failing_listener.ts";

const te = new TextEncoder();

for (
  const [format, file, viewerMinor] of [["websockify", "rec", 3], [
    "compact",
    "rec.vncrec",
    7,
  ]] as const
) {
  Deno.test(`replay: record a demo session (${format}), replay it, a viewer reads the same bytes`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const { serverInit, update } = await recordDemoSession(`${dir}/${file}`);
      const recorded = format === "compact" ? `${dir}/rec.1.vncrec` : `${dir}/rec.1`;
      const plan = planReplay(await readRecording(recorded));
      assert.equal(plan.width, 64);
      assert.equal(plan.height, 48);
      const server = startReplayServer(plan, { port: 0, speed: 0 });
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
        // A different handshake than the recorded one (3.8).
        const init = await viewerHandshake(conn, viewerMinor);
        // The recorded ServerInit, with the pixel format the recorded client set.
        const expected = new Uint8Array(serverInit);
        expected.set(PF16, 4);
        assert.deepEqual(init, expected);
        assert.notDeepEqual(init, serverInit);
        // Viewer messages are ignored, never answered or echoed.
        await conn.write(new Uint8Array([3, 0, 0, 0, 0, 0, 0, 10, 0, 10]));
        assert.deepEqual(await readExactly(conn, update.length), update);
        conn.close();
      } finally {
        await server.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

/** Writes a synthetic RFB 3.8 recording with this security type, with a fake clock. */
async function syntheticRecording(path: string, security: number) {
  let t = 0;
  const rec = createRecorder(path, 1, { now: () => t });
  const serverInit = [
    ...be16(4),
    ...be16(2),
    32,
    24,
    0,
    1,
    ...be16(255),
    ...be16(255),
    ...be16(255),
    16,
    8,
    0,
    0,
    0,
    0,
    ...be32(3),
    ...te.encode("abc"),
  ];
  rec.toClient(te.encode("RFB 003.008\n"));
  t = 3;
  rec.fromClient(te.encode("RFB 003.008\n"));
  rec.toClient(new Uint8Array([1, security]));
  t = 5;
  rec.fromClient(new Uint8Array([security]));
  if (security === 2) {
    rec.toClient(new Uint8Array(16).fill(7)); // challenge
    t = 900;
    rec.fromClient(new Uint8Array(16).fill(9)); // response (a secret!)
  }
  rec.toClient(new Uint8Array(be32(0))); // SecurityResult OK
  rec.fromClient(new Uint8Array([0])); // ClientInit
  t = 1000;
  // ServerInit and the first message in one chunk, as a TCP read can deliver them.
  rec.toClient(new Uint8Array([...serverInit, 2])); // + Bell
  rec.fromClient(new Uint8Array([2, 0, ...be16(1), ...be32(0)])); // SetEncodings, no SetPixelFormat
  t = 1500;
  rec.toClient(new Uint8Array([2, 2])); // two more Bells
  await rec.close();
  return new Uint8Array(serverInit);
}

Deno.test("replay: VNC authentication in the recording is skipped; timing is kept relative", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const serverInit = await syntheticRecording(`${dir}/s`, 2);
    const plan = planReplay(await readRecording(`${dir}/s.1`));
    assert.deepEqual(plan.serverInit, serverInit); // no SetPixelFormat: unchanged
    assert.equal(plan.name, "abc");
    assert.deepEqual(plan.updates.map((f) => [f.ms, [...f.data]]), [[0, [2]], [500, [2, 2]]]);
    const server = startReplayServer(plan, { port: 0, speed: 100 });
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
      assert.deepEqual(await viewerHandshake(conn, 8), serverInit);
      assert.deepEqual([...await readExactly(conn, 3)], [2, 2, 2]);
      conn.close();
    } finally {
      await server.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("replay: encrypted sessions and non-recordings are refused with a reason", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await syntheticRecording(`${dir}/v`, 19);
    assert.throws(
      () => planReplay({ frames: [], files: [] }),
      (e) => e instanceof RecordingError && /ends inside the RFB handshake/.test(e.message),
    );
    await assert.rejects(
      async () => planReplay(await readRecording(`${dir}/v.1`)),
      (e) => e instanceof RecordingError && /security type 19/.test(e.message),
    );
    await Deno.writeTextFile(`${dir}/junk`, "hello\n");
    await assert.rejects(readRecording(`${dir}/junk`), /not a recording/);
    await Deno.writeTextFile(`${dir}/bad`, "var VNC_frame_data = [\n'{1}x',\n'EOF'];\n");
    await assert.rejects(readRecording(`${dir}/bad`), /line 2: not a frame/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("replay: compact parts written by rotation are read in order", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let t = 0;
    const rec = createRecorder(`${dir}/r.vncrec`, 4, { now: () => t, maxBytes: 40 });
    for (let i = 0; i < 10; i++) {
      t = i * 10;
      rec.toClient(new Uint8Array([i, i, i]));
    }
    await rec.close();
    const r = await readRecording(`${dir}/r.4.vncrec`);
    assert.ok(r.files.length > 3, r.files.join(" "));
    assert.deepEqual(r.frames.map((f) => f.data[0]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(r.frames.map((f) => f.ms), [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("replay: vncws replay serves until stopped; usage errors exit 2, bad files 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const serverInit = await syntheticRecording(`${dir}/s`, 1);
    const stop = new AbortController();
    let port = 0;
    const listening = Promise.withResolvers<void>();
    const run = replayMain([`${dir}/s.1`, "--port", "0", "--speed", "0"], {
      signal: stop.signal,
      onListen: (a) => {
        port = a.port;
        listening.resolve();
      },
    });
    // replayMain resolving first means it failed to start.
    await Promise.race([listening.promise, run.then((c) => assert.fail(`exited ${c}`))]);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    assert.deepEqual(await viewerHandshake(conn, 8), serverInit);
    assert.deepEqual([...await readExactly(conn, 3)], [2, 2, 2]);
    stop.abort();
    assert.equal(await run, 0);
    // The replay closed the viewer when it stopped.
    assert.equal(await conn.read(new Uint8Array(10)), null);
    conn.close();

    assert.equal(await replayMain(["--speed", "fast", `${dir}/s.1`]), 2);
    assert.equal(await replayMain([]), 2);
    assert.equal(await replayMain([`${dir}/missing`, "--port", "0"]), 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("replay: a viewer asking for another pixel format gets a warning in the log", async () => {
  const dir = await Deno.makeTempDir();
  const lines: string[] = [];
  configureLog({ verbose: 0, sink: (l) => lines.push(l) });
  try {
    await syntheticRecording(`${dir}/s`, 1); // recorded format: 32 bpp
    const server = startReplayServer(planReplay(await readRecording(`${dir}/s.1`)), {
      port: 0,
      speed: 0,
    });
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
      await viewerHandshake(conn, 8);
      await conn.write(new Uint8Array([0, 0, 0, 0, ...PF16]));
      for (let i = 0; i < 100 && !lines.some((l) => l.includes("pixel format")); i++) {
        await sleep(20);
      }
      conn.close();
    } finally {
      await server.close();
    }
    const warn = lines.find((l) => l.includes("another pixel format"));
    assert.ok(warn, lines.join("\n"));
    assert.match(warn, /WARN .*recordedBpp=32 askedBpp=16/);
  } finally {
    configureLog({ verbose: 0, sink: (l) => console.error(l) });
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("replay: a failed accept is logged and the server goes on accepting", async () => {
  const dir = await Deno.makeTempDir();
  const { listener, accepts } = listenerFailingOnce();
  try {
    const serverInit = await syntheticRecording(`${dir}/s`, 1);
    const plan = planReplay(await readRecording(`${dir}/s.1`));
    const server = startReplayServer(plan, { port: 0, speed: 0, listener });
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
      const init = await raceTimeout(viewerHandshake(conn, 8), 5000);
      assert.notEqual(init, TIMEOUT, "no handshake after a failed accept");
      assert.deepEqual(init, serverInit);
      assert.ok(accepts() >= 2, "accept was called again after the failure");
      conn.close();
    } finally {
      await server.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
