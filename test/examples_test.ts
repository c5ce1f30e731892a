/**
 * examples/ run as programs (`deno run -A examples/…`): a real npm ws
 * viewer through each reaches the demo RFB server and Xtigervnc (RFB
 * banner), and a refused token is answered 404.
 */
import assert from "node:assert/strict";
import WebSocket from "ws";
import { startDemoServer } from "../src/demo/rfb_server.ts";
import { freePort, skipUnless, startProcess, startXtigervnc } from "../scripts/testing/util.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const ROOT = new URL("../", import.meta.url).pathname;
const NO_TIGER = skipUnless("Xtigervnc", "apt-get install tigervnc-standalone-server");

/** The first message (the RFB banner), or the HTTP status that refused the upgrade. */
function open(url: string): Promise<{ banner: string } | { status: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once("error", reject);
    ws.once("unexpected-response", (_req: unknown, res: { statusCode?: number }) => {
      resolve({ status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.once("message", (m: Uint8Array) => {
      resolve({ banner: new TextDecoder().decode(m) });
      ws.close();
    });
  });
}

async function throughExample(example: string, target: string): Promise<void> {
  const port = freePort();
  const p = startProcess(Deno.execPath(), [
    "run",
    "-A",
    `examples/${example}`,
    String(port),
    target,
  ], {
    cwd: ROOT,
  });
  try {
    await p.waitFor("listening on", 20000);
    assert.deepEqual(await open(`ws://127.0.0.1:${port}/websockify/demo`), {
      banner: "RFB 003.008\n",
    });
    assert.deepEqual(await open(`ws://127.0.0.1:${port}/websockify/other`), { status: 404 });
    if (example === "portal_sqlite.ts") {
      assert.deepEqual(await open(`ws://127.0.0.1:${port}/websockify/expired`), { status: 404 });
    }
  } finally {
    await p.stop();
  }
}

for (const example of ["embed_serve.ts", "portal_sqlite.ts"]) {
  Deno.test(
    `examples/${example}: the demo RFB server through it; other tokens 404`,
    opts,
    async () => {
      const demo = await startDemoServer({ hostname: "127.0.0.1", port: 0, width: 64, height: 48 });
      try {
        await throughExample(example, `127.0.0.1:${demo.addr.port}`);
      } finally {
        await demo.close();
      }
    },
  );

  Deno.test({
    name: `examples/${example}: Xtigervnc through it`,
    ignore: NO_TIGER,
    ...opts,
    fn: async () => {
      const x = await startXtigervnc();
      try {
        await throughExample(example, `127.0.0.1:${x.rfbPort}`);
      } finally {
        await x.stop();
      }
    },
  });
}
