/**
 * The demo's xvp (power actions), in process: the messages, which requests
 * it takes, the "POWER: REBOOT" line on its desktop, and a demo server that
 * tells only a viewer listing -309, shows its reboot and goes on, and
 * answers XVP_FAIL to what it cannot do.
 */
import assert from "node:assert/strict";
import { DemoDesktop, POWER_INK } from "../../src/demo/desktop.ts";
import { startDemoServer } from "../../src/demo/rfb_server.ts";
import { XVP_ENCODING, xvpAction, XvpCode, xvpMessage } from "../../src/demo/xvp.ts";
import { readDemoMessage, rfbClient, setEncodings, updateRequest } from "./_rfb_client.ts";

Deno.test("xvp: XVP_INIT and XVP_FAIL are type 250, version 1", () => {
  assert.deepEqual([...xvpMessage(XvpCode.Init)], [250, 0, 1, 1]);
  assert.deepEqual([...xvpMessage(XvpCode.Fail)], [250, 0, 1, 0]);
});

Deno.test("xvp: codes 2, 3, 4 are shutdown, reboot, reset once initialised", () => {
  assert.equal(xvpAction({ version: 1, code: 2 }, true), "shutdown");
  assert.equal(xvpAction({ version: 1, code: 3 }, true), "reboot");
  assert.equal(xvpAction({ version: 1, code: 4 }, true), "reset");
});

Deno.test("xvp: before XVP_INIT, another version or another code is nothing", () => {
  assert.equal(xvpAction({ version: 1, code: 3 }, false), undefined);
  assert.equal(xvpAction({ version: 2, code: 3 }, true), undefined);
  for (const code of [0, 1, 5, 255]) assert.equal(xvpAction({ version: 1, code }, true), undefined);
});

function inkIn(desktop: DemoDesktop): number {
  const p = desktop.layout.power;
  let n = 0;
  for (let y = p.y; y < p.y + p.h; y++) {
    for (let x = p.x; x < p.x + p.w; x++) {
      if ((desktop.pixels[y * desktop.width + x] & 0xffffff) === POWER_INK) n++;
    }
  }
  return n;
}

Deno.test("demo desktop: a power action is drawn on its line and reported as damage", () => {
  const desktop = new DemoDesktop();
  assert.equal(inkIn(desktop), 0, "no power line before any action");
  assert.equal(desktop.lastPower, undefined);
  const damaged: unknown[] = [];
  const unsubscribe = desktop.subscribe((r) => damaged.push(r));
  try {
    desktop.power("reboot");
    assert.equal(desktop.lastPower, "reboot");
    assert.ok(inkIn(desktop) > 0, "POWER: REBOOT drawn");
    assert.deepEqual(damaged, [desktop.layout.power]);
    assert.ok(desktop.layout.power.y + desktop.layout.power.h <= desktop.height, "inside");
  } finally {
    unsubscribe();
  }
});

Deno.test("demo server: a viewer listing -309 is told XVP_INIT; its reboot is shown and the session goes on", async () => {
  const server = await startDemoServer({});
  const conn = await rfbClient(server.addr.port);
  try {
    await conn.write(setEncodings([0, XVP_ENCODING]));
    assert.deepEqual(await readDemoMessage(conn), { type: "xvp", version: 1, code: 1 });
    await conn.write(new Uint8Array([250, 0, 1, 3])); // reboot
    // Processed in order: the power line is damaged before this request arrives.
    await conn.write(updateRequest(true, server.desktop.layout.power));
    const m = await readDemoMessage(conn);
    assert.equal(m.type, "update");
    assert.equal(server.desktop.lastPower, "reboot");
    const pixels = m.type === "update" ? m.rects.flatMap((r) => r.pixels) : [];
    assert.ok(pixels.includes(POWER_INK), "the update shows the power line's text");
  } finally {
    conn.close();
    await server.close();
  }
});

Deno.test("demo server: without -309 there is no XVP_INIT and a reboot is answered XVP_FAIL", async () => {
  const server = await startDemoServer({});
  const conn = await rfbClient(server.addr.port);
  try {
    await conn.write(setEncodings([0, -223]));
    await conn.write(new Uint8Array([250, 0, 1, 3]));
    assert.deepEqual(await readDemoMessage(conn), { type: "xvp", version: 1, code: 0 });
    assert.equal(server.desktop.lastPower, undefined);
    // Still served: a full update of a corner comes back.
    await conn.write(updateRequest(false, { x: 0, y: 0, w: 2, h: 2 }));
    assert.equal((await readDemoMessage(conn)).type, "update");
  } finally {
    conn.close();
    await server.close();
  }
});
