import assert from "node:assert/strict";
import WebSocket from "ws";
import { startDemoServer } from "../../src/demo/rfb_server.ts";
import {
  freePort,
  type Proc,
  skipUnless,
  startProcess,
  startXtigervnc,
} from "../../scripts/testing/util.ts";

const EXAMPLE = new URL("../../examples/embed_deno_serve.ts", import.meta.url).pathname;

/** Starts the example app (a real process) on a free port in front of `target`. */
async function startExample(target: string): Promise<{ proc: Proc; port: number }> {
  const port = freePort();
  const proc = startProcess(Deno.execPath(), ["run", "-A", EXAMPLE, String(port), target]);
  await proc.waitFor("portal listening on", 20000);
  return { proc, port };
}

/** Opens a WebSocket with npm ws; resolves with the first message, or the HTTP status it was refused with. */
function firstMessage(
  url: string,
): Promise<{ protocol: string; data: string } | { status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ["binary", "base64"]);
    ws.once("message", (data: Buffer) => {
      resolve({ protocol: ws.protocol, data: data.toString("latin1") });
      ws.close();
    });
    ws.once("unexpected-response", (_req: unknown, res: any) => {
      let body = "";
      res.on("data", (c: Buffer) => body += c.toString());
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    ws.once("error", (e: Error) => reject(e));
  });
}

Deno.test("example embed_deno_serve: serves its page on / and the demo RFB server's banner on /websockify", async () => {
  const demo = await startDemoServer();
  const app = await startExample(`127.0.0.1:${demo.addr.port}`);
  try {
    const page = await fetch(`http://127.0.0.1:${app.port}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(await page.text(), /\/websockify/);
    const missing = await fetch(`http://127.0.0.1:${app.port}/nothing-here`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    const first = await firstMessage(`ws://127.0.0.1:${app.port}/websockify`);
    assert.deepEqual(first, { protocol: "binary", data: "RFB 003.008\n" });
  } finally {
    await app.proc.stop();
    await demo.close();
  }
});

Deno.test("example embed_deno_serve: a target that is down is a 502 naming it", async () => {
  const down = freePort();
  const app = await startExample(`127.0.0.1:${down}`);
  try {
    const first = await firstMessage(`ws://127.0.0.1:${app.port}/websockify`);
    assert.ok("status" in first, JSON.stringify(first));
    assert.equal(first.status, 502);
    assert.match(
      first.body,
      new RegExp(`cannot connect to 127\\.0\\.0\\.1:${down}: connection refused`),
    );
  } finally {
    await app.proc.stop();
  }
});

Deno.test({
  name: "example embed_deno_serve: reads Xtigervnc's RFB banner through /websockify",
  ignore: skipUnless("Xtigervnc", "apt-get install tigervnc-standalone-server"),
  async fn() {
    const x = await startXtigervnc();
    const app = await startExample(`127.0.0.1:${x.rfbPort}`);
    try {
      const first = await firstMessage(`ws://127.0.0.1:${app.port}/websockify`);
      assert.ok("data" in first, JSON.stringify(first));
      assert.match(first.data, /^RFB 003\.00[38]\n$/);
    } finally {
      await app.proc.stop();
      await x.stop();
    }
  },
});
