import assert from "node:assert/strict";
import { needsRfbFilter, RfbFilter } from "../../src/rfb/filter.ts";
import type { RfbPolicy } from "../../src/rfb/policy.ts";
import { RfbPolicyFramer } from "../../src/rfb/policy_framer.ts";
import { RfbProtocolError } from "../../src/rfb/reader.ts";
import { CloseRequest } from "../../src/ws/relay_core.ts";
import { readRecording } from "../../src/recording/codec.ts";
import {
  recordedSteps,
  runThroughFilter,
  sampleSession,
  type SessionStep,
} from "../../scripts/testing/rfb_session.ts";

const be16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const be32 = (n: number) => [(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
const text = (s: string) => [...new TextEncoder().encode(s)];
const PF32 = [32, 24, 0, 1, ...be16(255), ...be16(255), ...be16(255), 16, 8, 0, 0, 0, 0];

const POLICIES: RfbPolicy[] = [
  { viewOnly: true, clipboard: "both" },
  { viewOnly: false, clipboard: "none" },
  { viewOnly: false, clipboard: "to-client" },
  { viewOnly: false, clipboard: "to-server" },
  { viewOnly: true, clipboard: "none" },
  { viewOnly: false, clipboard: "both" },
];

function expectedDrops(steps: SessionStep[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of steps) if (s.dropped) out[s.dropped] = (out[s.dropped] ?? 0) + 1;
  return out;
}

async function checkSession(
  policy: RfbPolicy,
  sizes: { readSize: number; serverChunk: number; clientChunk: number },
): Promise<void> {
  const steps = sampleSession(policy);
  const run = await runThroughFilter(steps, policy, sizes);
  const what = `${JSON.stringify(policy)} ${JSON.stringify(sizes)}`;
  assert.equal(run.error, undefined, `${what}: ${run.error}`);
  steps.forEach((s, i) => {
    assert.deepEqual(run.outputs[i], s.expected, `${what}: step ${i} from the ${s.from}`);
  });
  assert.deepEqual(run.dropped, expectedDrops(steps), what);
}

Deno.test("rfb filter: needed for view-only or a clipboard limit only", () => {
  assert.equal(needsRfbFilter(undefined), false);
  assert.equal(needsRfbFilter({ viewOnly: false, clipboard: "both" }), false);
  assert.equal(
    needsRfbFilter({ viewOnly: false, clipboard: "both", credentials: { password: "x" } }),
    false,
  );
  assert.equal(needsRfbFilter({ viewOnly: true, clipboard: "both" }), true);
  assert.equal(needsRfbFilter({ viewOnly: false, clipboard: "to-client" }), true);
});

Deno.test("rfb filter: every message and encoding, each policy, whole reads", async () => {
  for (const policy of POLICIES) {
    await checkSession(policy, { readSize: 1 << 16, serverChunk: 1 << 20, clientChunk: 1 << 20 });
  }
});

Deno.test("rfb filter: the same in one-byte reads and writes", async () => {
  for (const policy of POLICIES) {
    await checkSession(policy, { readSize: 1, serverChunk: 1, clientChunk: 1 });
  }
});

Deno.test("rfb filter: chunk boundaries at every offset of the headers (sizes 2 to 37)", async () => {
  for (const policy of [POLICIES[1], POLICIES[4]]) {
    for (let k = 2; k <= 37; k++) {
      await checkSession(policy, { readSize: 64 + k, serverChunk: k, clientChunk: k });
      await checkSession(policy, { readSize: k, serverChunk: 4096, clientChunk: 40 - k });
    }
  }
});

/** A filter over a target that sends `server` and records what the viewer's writes became. */
function filterOver(server: number[], policy: RfbPolicy) {
  const queue = [...server];
  const written: number[] = [];
  const filter = new RfbFilter({
    peer: "test",
    read(buf) {
      if (queue.length === 0) return Promise.resolve(null);
      const n = Math.min(buf.length, queue.length);
      buf.set(queue.splice(0, n));
      return Promise.resolve(n);
    },
    writeAll(data) {
      written.push(...data);
      return Promise.resolve();
    },
    closeWrite: () => Promise.resolve(),
    close() {},
  }, policy);
  const read = async (size = 4096) => {
    const buf = new Uint8Array(size);
    const n = await filter.read(buf);
    return n === null ? null : [...buf.subarray(0, n)];
  };
  const feed = (bytes: number[]) => queue.push(...bytes);
  return { filter, read, feed, written };
}

const VIEW_ONLY: RfbPolicy = { viewOnly: true, clipboard: "both" };
const NO_CLIPBOARD: RfbPolicy = { viewOnly: false, clipboard: "none" };

Deno.test("rfb filter: a server offering no type it can follow: the viewer is told why, the session ends", async () => {
  const { filter, read, feed } = filterOver(text("RFB 003.008\n"), VIEW_ONLY);
  assert.deepEqual(await read(), text("RFB 003.008\n"));
  await filter.writeAll(new Uint8Array(text("RFB 003.008\n")));
  feed([2, 19, 18]);
  const failure = (await read())!;
  assert.equal(failure[0], 0, "no security types: the failure form");
  const reason = new TextDecoder().decode(new Uint8Array(failure.slice(5)));
  assert.equal(failure.length, 5 + reason.length);
  assert.match(reason, /security types vncws cannot follow \(19, 18\)/);
  assert.match(reason, /--target-password-file/);
  await assert.rejects(read(), RfbProtocolError);
  assert.ok(filter.signal.aborted);
  const asked = filter.signal.reason as CloseRequest;
  assert.ok(asked instanceof CloseRequest);
  assert.equal(asked.reason, reason);

  // Negative: one it can follow among them is kept, and the session goes on.
  const ok = filterOver(text("RFB 003.008\n"), VIEW_ONLY);
  await ok.read();
  await ok.filter.writeAll(new Uint8Array(text("RFB 003.008\n")));
  ok.feed([3, 19, 2, 18]);
  assert.deepEqual(await ok.read(), [1, 2]);
  assert.equal(ok.filter.signal.aborted, false);
});

Deno.test("rfb filter: version 3.3 with VncAuth and 3.7 with None are followed to the messages", async () => {
  // 3.3: the server chooses; VncAuth's challenge and response, then the result.
  const a = filterOver(text("RFB 003.003\n"), VIEW_ONLY);
  await a.read();
  await a.filter.writeAll(new Uint8Array(text("RFB 003.003\n")));
  a.feed([...be32(2), ...new Array(16).fill(9)]);
  assert.deepEqual((await a.read())!.length, 20);
  await a.filter.writeAll(new Uint8Array(16).fill(5)); // the response
  a.feed([...be32(0), ...be16(8), ...be16(8), ...PF32, ...be32(0)]);
  assert.equal((await a.read())!.length, 4 + 24);
  await a.filter.writeAll(
    new Uint8Array([1, 4, 1, 0, 0, ...be32(0x61), 3, 0, 0, 0, 0, 0, 0, 8, 0, 8]),
  );
  assert.deepEqual(a.written.slice(12 + 16), [1, 3, 0, 0, 0, 0, 0, 0, 8, 0, 8], "key dropped");

  // 3.7: no SecurityResult after None.
  const b = filterOver(text("RFB 003.007\n"), VIEW_ONLY);
  await b.read();
  await b.filter.writeAll(new Uint8Array(text("RFB 003.007\n")));
  b.feed([1, 1]);
  assert.deepEqual(await b.read(), [1, 1]);
  await b.filter.writeAll(new Uint8Array([1, 1]));
  b.feed([...be16(8), ...be16(8), ...PF32, ...be32(1), 0x41]);
  assert.equal((await b.read())!.length, 25);
  await b.filter.writeAll(new Uint8Array([5, 1, 0, 1, 0, 1, 2, 0]));
  assert.deepEqual(b.written.slice(12 + 2), [], "pointer dropped; SetEncodings held until whole");
  await b.filter.writeAll(new Uint8Array([0, 0]));
  assert.deepEqual(b.written.slice(12 + 2), [2, 0, 0, 0]);
});

/** A session up to its messages, 3.8 with None. */
async function connected(policy: RfbPolicy) {
  const f = filterOver(text("RFB 003.008\n"), policy);
  await f.read();
  await f.filter.writeAll(new Uint8Array(text("RFB 003.008\n")));
  f.feed([1, 1]);
  await f.read();
  await f.filter.writeAll(new Uint8Array([1, 1]));
  f.feed([...be32(0), ...be16(8), ...be16(8), ...PF32, ...be32(0)]);
  await f.read();
  return f;
}

Deno.test("rfb filter: a rectangle in an encoding it cannot frame ends the session with the reason", async () => {
  const f = await connected(NO_CLIPBOARD);
  f.feed([0, 0, ...be16(1), 0, 0, 0, 0, 0, 1, 0, 1, ...be32(99), 1, 2, 3, 4]);
  await assert.rejects(
    f.read(),
    (e) => e instanceof RfbProtocolError && /encoding 99/.test(e.message),
  );
  assert.match(
    (f.filter.signal.reason as CloseRequest).reason,
    /encoding 99, which vncws cannot frame/,
  );

  // Negative: a view-only session does not frame the server's stream: the bytes pass.
  const g = await connected(VIEW_ONLY);
  const update = [0, 0, ...be16(1), 0, 0, 0, 0, 0, 1, 0, 1, ...be32(99), 1, 2, 3, 4];
  g.feed(update);
  assert.deepEqual(await g.read(), update);
  assert.equal(g.filter.signal.aborted, false);
});

Deno.test("rfb filter: an unknown client message type ends the session; a known one passes", async () => {
  const f = await connected(VIEW_ONLY);
  await f.filter.writeAll(new Uint8Array([3, 1, 0, 0, 0, 0, 0, 8, 0, 8]));
  assert.equal(f.filter.signal.aborted, false);
  await assert.rejects(
    f.filter.writeAll(new Uint8Array([77, 0, 0, 0])),
    (e) =>
      e instanceof RfbProtocolError &&
      /viewer sent a client message of unknown type 77/.test(e.message),
  );
  assert.ok(f.filter.signal.aborted);
});

Deno.test("rfb filter: a ServerCutText is dropped without its text reaching the viewer, in any split", async () => {
  for (let size = 1; size <= 12; size++) {
    const f = await connected(NO_CLIPBOARD);
    f.feed([2, 3, 0, 0, 0, ...be32(6), ...text("secret"), 2]);
    const out: number[] = [];
    for (let r = await f.read(size); r !== null; r = await f.read(size)) out.push(...r);
    assert.deepEqual(out, [2, 2], `reads of ${size}`);
    assert.deepEqual(f.filter.dropped(), { server_cut_text: 1 });
  }
});

/**
 * A real session: the bundled viewer (noVNC 1.7) in Chromium → vncws
 * `--clipboard to-client --record` → Xtigervnc 400×300 with a plaid root,
 * an xmessage window, pointer moves, a click, typing, clipboard both ways
 * and a root colour change (as test/browser/rfb_policy_test.ts drives it).
 */
const RECORDED = new URL("./fixtures/novnc_xtigervnc.vncrec", import.meta.url).pathname;

Deno.test("rfb filter: a recorded noVNC ↔ Xtigervnc session is framed end to end, in any read size", async () => {
  const { frames } = await readRecording(RECORDED);
  const steps = recordedSteps(frames);
  for (const size of [1, 7, 4096]) {
    const policy: RfbPolicy = { viewOnly: true, clipboard: "none" };
    const run = await runThroughFilter(steps, policy, {
      readSize: size,
      serverChunk: size,
      clientChunk: size,
    });
    assert.equal(run.error, undefined, String(run.error));
    assert.equal(run.dropped.server_cut_text, 1, JSON.stringify(run.dropped));
    assert.equal(run.dropped.client_cut_text, 1, JSON.stringify(run.dropped));
    assert.ok(run.dropped.key >= 10 && run.dropped.pointer >= 20, JSON.stringify(run.dropped));
    // Everything else went on: the server's bytes less the one ServerCutText.
    const serverIn = steps.filter((s) => s.from === "server").reduce(
      (n, s) => n + s.input.length,
      0,
    );
    const serverOut = run.outputs.filter((_, i) => steps[i].from === "server")
      .reduce((n, o) => n + o.length, 0);
    assert.ok(serverIn - serverOut > 8 && serverIn - serverOut < 64, `${serverIn} → ${serverOut}`);
  }
});

const PF8 = [8, 8, 0, 1, ...be16(7), ...be16(7), ...be16(3), 0, 3, 6, 0, 0, 0];
const SECRET_CUT = [3, 0, 0, 0, ...be32(6), ...text("secret")];
/** A FramebufferUpdate of one Raw 2×2 rectangle with `px` bytes a pixel. */
const raw2x2 = (px: number) => [
  0,
  0,
  ...be16(1),
  ...be16(0),
  ...be16(0),
  ...be16(2),
  ...be16(2),
  ...be32(0),
  ...new Array(4 * px).fill(7),
];

/** A framer up to the viewer's ClientInit (3.8, None); `forwarded` holds the server's bytes it let on. */
function framerAfterSecurity(policy: RfbPolicy) {
  const dropped: string[] = [];
  const framer = new RfbPolicyFramer(policy, (kind) => dropped.push(kind));
  const forwarded: number[] = [];
  const server = (b: number[]) => {
    for (const p of framer.fromServer(Uint8Array.from(b))) forwarded.push(...p);
  };
  const client = (b: number[]) => framer.fromClient(Uint8Array.from(b)).flatMap((p) => [...p]);
  server(text("RFB 003.008\n"));
  client(text("RFB 003.008\n"));
  server([1, 1]);
  client([1]);
  server(be32(0));
  forwarded.length = 0;
  return { framer, server, client, forwarded, dropped };
}

const SERVER_INIT = [...be16(8), ...be16(8), ...PF32, ...be32(0)];

Deno.test("rfb filter: a SetPixelFormat sent with ClientInit, before ServerInit, wins over ServerInit's format", () => {
  // The server applies it after ServerInit: Raw comes at 1 byte a pixel.
  const f = framerAfterSecurity(NO_CLIPBOARD);
  f.client([1, 0, 0, 0, 0, ...PF8]); // ClientInit + SetPixelFormat in one write
  f.server([...SERVER_INIT, ...raw2x2(1), ...SECRET_CUT, 2]);
  assert.deepEqual(f.forwarded, [...SERVER_INIT, ...raw2x2(1), 2]);
  assert.deepEqual(f.dropped, ["server_cut_text"]);

  // Negative: without the viewer's format, ServerInit's 4 bytes a pixel count.
  const g = framerAfterSecurity(NO_CLIPBOARD);
  g.client([1]);
  g.server([...SERVER_INIT, ...raw2x2(4), ...SECRET_CUT, 2]);
  assert.deepEqual(g.forwarded, [...SERVER_INIT, ...raw2x2(4), 2]);
  assert.deepEqual(g.dropped, ["server_cut_text"]);
});

Deno.test("rfb filter: a SetPixelFormat changing the pixel size after the first request ends the session (1008)", async () => {
  const request = [3, 0, ...be16(0), ...be16(0), ...be16(8), ...be16(8)];
  const f = await connected(NO_CLIPBOARD);
  await f.filter.writeAll(new Uint8Array([0, 0, 0, 0, ...PF32, ...request]));
  assert.equal(f.filter.signal.aborted, false);
  await assert.rejects(
    f.filter.writeAll(new Uint8Array([0, 0, 0, 0, ...PF8])),
    (e) =>
      e instanceof RfbProtocolError && /SetPixelFormat changing the pixel size/.test(e.message),
  );
  const close = f.filter.signal.reason as CloseRequest;
  assert.equal(close.code, 1008);
  assert.match(
    close.reason,
    /viewer sent a SetPixelFormat changing the pixel size \(32 to 8 bits\)/,
  );

  // So too after EnableContinuousUpdates.
  const c = await connected(NO_CLIPBOARD);
  await c.filter.writeAll(new Uint8Array([150, 1, ...be16(0), ...be16(0), ...be16(8), ...be16(8)]));
  await assert.rejects(c.filter.writeAll(new Uint8Array([0, 0, 0, 0, ...PF8])), RfbProtocolError);

  // Negatives: the same size (other shifts) passes; a change before the first request passes;
  // view-only does not frame the server's stream, so a change there passes too.
  const same = [...PF32];
  same[10] = 0;
  same[12] = 16;
  const g = await connected(NO_CLIPBOARD);
  await g.filter.writeAll(new Uint8Array([...request, 0, 0, 0, 0, ...same]));
  assert.equal(g.filter.signal.aborted, false);
  const h = await connected(NO_CLIPBOARD);
  await h.filter.writeAll(new Uint8Array([0, 0, 0, 0, ...PF8, ...request]));
  assert.equal(h.filter.signal.aborted, false);
  h.feed([...raw2x2(1), ...SECRET_CUT]);
  assert.deepEqual(await h.read(), raw2x2(1));
  const v = await connected(VIEW_ONLY);
  await v.filter.writeAll(new Uint8Array([...request, 0, 0, 0, 0, ...PF8]));
  assert.equal(v.filter.signal.aborted, false);
});

Deno.test("rfb filter: the session follows the lower version; a viewer above the server's ends it", async () => {
  // Server 3.3, viewer answering 3.8: refused with the reason.
  const f = filterOver(text("RFB 003.003\n"), NO_CLIPBOARD);
  await f.read();
  await assert.rejects(
    f.filter.writeAll(new Uint8Array(text("RFB 003.008\n"))),
    (e) =>
      e instanceof RfbProtocolError &&
      /ProtocolVersion 3\.8 above the VNC server's 3\.3/.test(e.message),
  );
  assert.ok(f.filter.signal.aborted);

  // Negative: server 3.8, viewer 3.3: the server chooses the type (4 bytes), then ServerInit.
  const g = filterOver(text("RFB 003.008\n"), NO_CLIPBOARD);
  await g.read();
  await g.filter.writeAll(new Uint8Array(text("RFB 003.003\n")));
  g.feed(be32(1));
  assert.deepEqual(await g.read(), be32(1));
  await g.filter.writeAll(new Uint8Array([1]));
  g.feed([...SERVER_INIT, ...SECRET_CUT, 2]);
  const out: number[] = [];
  for (let r = await g.read(); r !== null; r = await g.read()) out.push(...r);
  assert.deepEqual(out, [...SERVER_INIT, 2]);
  assert.equal(g.filter.signal.aborted, false);
});

Deno.test("rfb filter: the viewer's security type must be one offered (after the rewrite)", async () => {
  const f = filterOver(text("RFB 003.008\n"), VIEW_ONLY);
  await f.read();
  await f.filter.writeAll(new Uint8Array(text("RFB 003.008\n")));
  f.feed([2, 1, 19]);
  assert.deepEqual(await f.read(), [1, 1]);
  await assert.rejects(
    f.filter.writeAll(new Uint8Array([2])),
    (e) =>
      e instanceof RfbProtocolError && /security type 2, which was not offered/.test(e.message),
  );
  // Negative: the offered one passes.
  const g = filterOver(text("RFB 003.008\n"), VIEW_ONLY);
  await g.read();
  await g.filter.writeAll(new Uint8Array(text("RFB 003.008\n")));
  g.feed([2, 1, 19]);
  await g.read();
  await g.filter.writeAll(new Uint8Array([1]));
  assert.equal(g.filter.signal.aborted, false);
  assert.deepEqual(g.written.slice(12), [1]);
});

Deno.test("rfb filter: a Hextile rectangle of width 0 has no tiles", () => {
  const hextile = (
    w: number,
    h: number,
  ) => [...be16(0), ...be16(0), ...be16(w), ...be16(h), ...be32(5)];
  const f = framerAfterSecurity(NO_CLIPBOARD);
  f.client([1]);
  const update = [0, 0, ...be16(2), ...hextile(0, 5), ...raw2x2(4).slice(4)];
  f.server([...SERVER_INIT, ...update, ...SECRET_CUT, 2]);
  assert.deepEqual(f.forwarded, [...SERVER_INIT, ...update, 2]);
  // Negative: a 1×5 one has a tile (one subencoding byte, 0: background only, none given).
  const g = framerAfterSecurity(NO_CLIPBOARD);
  g.client([1]);
  const one = [0, 0, ...be16(1), ...hextile(1, 5), 0];
  g.server([...SERVER_INIT, ...one, ...SECRET_CUT, 2]);
  assert.deepEqual(g.forwarded, [...SERVER_INIT, ...one, 2]);
});
