/**
 * The whole chain with real processes: a raw RFB client → vncws bridge →
 * vncws server → Xtigervnc. The client completes the RFB handshake and
 * reads ServerInit through two WebSocket hops.
 */
import assert from "node:assert/strict";
import {
  freePort,
  readExactly,
  readToEof,
  skipUnless,
  startVncws,
  startXtigervnc,
} from "../../scripts/testing/util.ts";
import { startBridge } from "./_helpers.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test({
  name: "bridge → vncws → Xtigervnc: a raw RFB client reads ServerInit",
  ignore: skipUnless("Xtigervnc", "apt-get install tigervnc-standalone-server"),
  ...opts,
  async fn() {
    const xvnc = await startXtigervnc({ geometry: "320x240" });
    const wsPort = freePort();
    const bridgePort = freePort();
    let vncws, bridge;
    try {
      vncws = await startVncws([String(wsPort), `127.0.0.1:${xvnc.rfbPort}`]);
      bridge = await startBridge([
        `127.0.0.1:${bridgePort}`,
        `ws://127.0.0.1:${wsPort}/websockify`,
        "--protocol",
        "binary",
      ]);
      for (let round = 0; round < 2; round++) {
        const c = await Deno.connect({ hostname: "127.0.0.1", port: bridgePort });
        assert.equal(dec.decode(await readExactly(c, 12)), "RFB 003.008\n");
        await c.write(enc.encode("RFB 003.008\n"));
        assert.deepEqual(await readExactly(c, 2), new Uint8Array([1, 1])); // one type: None
        await c.write(new Uint8Array([1]));
        assert.deepEqual(await readExactly(c, 4), new Uint8Array([0, 0, 0, 0])); // OK
        await c.write(new Uint8Array([1])); // ClientInit, shared
        const init = await readExactly(c, 24);
        const view = new DataView(init.buffer);
        assert.equal(view.getUint16(0), 320);
        assert.equal(view.getUint16(2), 240);
        const nameLength = view.getUint32(20);
        assert.match(dec.decode(await readExactly(c, nameLength)), /\S/);
        // The viewer leaves: the bridge sends close 1000, the chain unwinds.
        await c.closeWrite();
        await readToEof(c);
        c.close();
      }
      await bridge.waitFor(/session end(.|\n)*session end/);
      assert.match(bridge.output(), /session end .*up=14 down=\d+ .*code=1000/);
      await vncws.waitFor(/session end(.|\n)*session end/);
    } finally {
      await bridge?.stop();
      await vncws?.stop();
      await xvnc.stop();
    }
  },
});
