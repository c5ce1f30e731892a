/**
 * `vncws --demo`'s power actions through the real vncws process, with a raw
 * RFB client (test/demo/_rfb_client.ts): listing xvp (-309) brings
 * XVP_INIT; a reboot is logged at debug, drawn on the desktop, and the
 * session (and vncws) go on. Without -309 nothing is announced and a reboot
 * is answered XVP_FAIL and logged as refused.
 */
import assert from "node:assert/strict";
import { POWER_INK } from "../../src/demo/desktop.ts";
import { readDemoMessage, setEncodings, updateRequest, withDemoClient } from "./_rfb_client.ts";

/** Reads updates until one has a pixel of the power line's ink. */
async function waitForPowerInk(conn: Deno.Conn): Promise<void> {
  for (;;) {
    const m = await readDemoMessage(conn);
    assert.equal(m.type, "update", "no xvp message after a reboot that worked");
    if (m.type === "update" && m.rects.some((r) => r.pixels.includes(POWER_INK))) return;
    await conn.write(updateRequest(true, { x: 0, y: 0, w: 800, h: 600 }));
  }
}

Deno.test("e2e demo: xvp init, a reboot logged and drawn, and the session goes on", async () => {
  await withDemoClient(async (conn, vncws) => {
    await conn.write(setEncodings([0, -309]));
    assert.deepEqual(await readDemoMessage(conn), { type: "xvp", version: 1, code: 1 });
    await conn.write(new Uint8Array([250, 0, 1, 3])); // reboot
    await vncws.waitFor(/demo: power action=reboot version=1 code=3/);
    await conn.write(updateRequest(true, { x: 0, y: 0, w: 800, h: 600 }));
    await waitForPowerInk(conn);
    // A second action on the same connection: still served.
    await conn.write(new Uint8Array([250, 0, 1, 2])); // shutdown
    await vncws.waitFor(/demo: power action=shutdown version=1 code=2/);
    assert.doesNotMatch(vncws.output(), /client left/, "the demo kept the viewer");
  });
});

Deno.test("e2e demo: without -309 no XVP_INIT, and a reboot is answered XVP_FAIL", async () => {
  await withDemoClient(async (conn, vncws) => {
    await conn.write(setEncodings([0, -223]));
    await conn.write(new Uint8Array([250, 0, 1, 3]));
    // The first message back is the failure, not an init.
    assert.deepEqual(await readDemoMessage(conn), { type: "xvp", version: 1, code: 0 });
    await vncws.waitFor(/demo: power action=refused version=1 code=3/);
    await conn.write(updateRequest(false, { x: 0, y: 0, w: 2, h: 2 }));
    assert.equal((await readDemoMessage(conn)).type, "update", "still served");
  });
});
