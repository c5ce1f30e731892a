import assert from "node:assert/strict";
import { skipUnless, startProcess } from "../../scripts/testing/util.ts";

const FRAME = new URL("../../src/ws/frame.ts", import.meta.url).pathname;
const HANDSHAKE = new URL("../../src/ws/handshake.ts", import.meta.url).pathname;
const STREAM = new URL("../../src/net/connect.ts", import.meta.url).pathname;

/** Bundles `entry` to one .mjs file with `deno bundle`; returns its path. */
async function bundle(dir: string, entry: string, name: string): Promise<string> {
  const out = `${dir}/${name}.mjs`;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "-o", out, entry],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(r.success, new TextDecoder().decode(r.stderr));
  return out;
}

/** Runs a Node script; resolves with its exit code and output. */
async function node(script: string): Promise<{ code: number; out: string }> {
  const p = startProcess("node", [script]);
  const status = await p.status;
  return { code: status.code, out: p.output() };
}

Deno.test({
  name: "node: the frame codec and the handshake's key rule run under Node, bundled by deno bundle",
  ignore: skipUnless("node", "install Node.js 20 or newer"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vncws-node-" });
    try {
      await bundle(dir, FRAME, "frame");
      await bundle(dir, HANDSHAKE, "handshake");
      await Deno.writeTextFile(
        `${dir}/check.mjs`,
        `
import assert from "node:assert/strict";
import { encodeFrame, FrameDecoder, Opcode } from "./frame.mjs";
import { acceptKey, chooseProtocol } from "./handshake.mjs";
assert.equal(typeof Deno, "undefined");
const payload = new Uint8Array(70000).map((_, i) => i & 0xff);
const wire = encodeFrame(Opcode.Binary, payload, { mask: new Uint8Array([1, 2, 3, 4]) });
const dec = new FrameDecoder({ expectMasked: true });
const got = [];
for (let i = 0; i < wire.length; i += 1000) {
  dec.push(wire.slice(i, i + 1000));
  for (let ev; (ev = dec.next()) !== null;) if (ev.kind === "data") got.push(...ev.bytes);
}
assert.deepEqual(new Uint8Array(got), payload);
assert.equal(acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
assert.equal(chooseProtocol(["chat", "binary"]), "binary");
console.log("node ok " + process.version);
`,
      );
      const r = await node(`${dir}/check.mjs`);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /node ok v\d+/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "node: the connecting layer does not run under Node (it calls Deno.connect)",
  ignore: skipUnless("node", "install Node.js 20 or newer"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vncws-node-" });
    try {
      await bundle(dir, STREAM, "connect");
      await Deno.writeTextFile(
        `${dir}/check.mjs`,
        `
import { connectTarget } from "./connect.mjs";
await connectTarget({ kind: "tcp", hostname: "127.0.0.1", port: 9 });
`,
      );
      const r = await node(`${dir}/check.mjs`);
      assert.notEqual(r.code, 0);
      assert.match(r.out, /Deno is not defined/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
