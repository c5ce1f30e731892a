/**
 * vncws as a real process in wrap mode: `vncws P -- Xtigervnc :N` serves the
 * RFB handshake over WebSocket, only vncws listens on P, SIGTERM ends the
 * server, and `exit` mode passes the command's exit code through.
 */
import assert from "node:assert/strict";
import { socketOwners } from "../../src/wrap/proc.ts";
import { tcpListeners } from "../../src/base/procfs.ts";
import { skipUnless, startVncws } from "../../scripts/testing/util.ts";
import { wsConnect } from "../../scripts/testing/ws_client.ts";
import { cleanupDisplay, identify, isAlive, pickDisplay, waitUntil } from "./_helpers.ts";
import { raceTimeout, sleep, STOPPED, TIMEOUT } from "../../src/base/time.ts";

const dec = new TextDecoder();

/** Direct children of `pid` (the wrapped command is one, in its own session). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(f[1]) === pid) out.push(Number(e.name));
    } catch { /* ended */ }
  }
  return out;
}

Deno.test({
  name:
    "wrap e2e: vncws P -- Xtigervnc :N → RFB over WebSocket; only vncws on P; SIGTERM ends Xvnc",
  ignore: skipUnless("Xtigervnc", "apt-get install tigervnc-standalone-server"),
  async fn() {
    const n = pickDisplay();
    const port = 5900 + n;
    const vncws = await startVncws([
      String(port),
      "--",
      "Xtigervnc",
      `:${n}`,
      "-SecurityTypes",
      "None",
      "-noreset",
      "-geometry",
      "320x240",
    ], { ready: "wrapped server ready" });
    let server: { pid: number; start: number } | undefined;
    try {
      // vncws may log "listening on" before it starts the command.
      await waitUntil(() => childrenOf(vncws.pid).length > 0, "vncws to start Xtigervnc");
      const [xvnc] = childrenOf(vncws.pid);
      server = identify(xvnc);
      // Ready may be logged before or after "listening on": the WebSocket path must work soon.
      let ws;
      const deadline = Date.now() + 20000;
      for (;;) {
        ws = await wsConnect(port);
        if (ws.response.status === 101 || Date.now() > deadline) break;
        ws.conn.close();
        await sleep(200);
      }
      assert.equal(ws.response.status, 101);
      assert.equal(dec.decode(await ws.readBytes(12)), "RFB 003.008\n");
      ws.conn.close();
      // On P, IPv4 and IPv6, only vncws listens; Xtigervnc listens on loopback elsewhere.
      const onP = tcpListeners(port);
      assert.ok(onP.length > 0);
      assert.deepEqual(socketOwners(onP.map((l) => l.inode)), [vncws.pid]);
      const xvncPorts = new Set<number>();
      for (const fd of Deno.readDirSync(`/proc/${xvnc}/fd`)) {
        try {
          const link = Deno.readLinkSync(`/proc/${xvnc}/fd/${fd.name}`);
          if (link.startsWith("socket:")) xvncPorts.add(Number(link.slice(8, -1)));
        } catch { /* closed */ }
      }
      for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
        for (const line of Deno.readTextFileSync(file).split("\n").slice(1)) {
          const f = line.trim().split(/\s+/);
          if (f.length < 10 || f[3] !== "0A" || !xvncPorts.has(Number(f[9]))) continue;
          const addr = f[1].split(":")[0];
          assert.ok(
            addr === "0100007F" || addr === "00000000000000000000000001000000",
            `Xtigervnc listens on ${f[1]} in ${file}`,
          );
        }
      }
      await vncws.stop("SIGTERM");
      await waitUntil(() => !isAlive(server!), "Xtigervnc to end after SIGTERM to vncws");
    } finally {
      await vncws.stop("SIGKILL");
      if (server && isAlive(server)) Deno.kill(server.pid, "SIGKILL");
      cleanupDisplay(n);
    }
  },
});

Deno.test({
  name: "wrap e2e: exit mode — vncws exits with the wrapped command's exit code",
  ignore: skipUnless("/usr/bin/python3", "apt-get install python3"),
  async fn() {
    const port = 5900 + pickDisplay();
    const server = "import socket,sys,time\n" +
      `s=socket.socket(); s.bind(("0.0.0.0",${port})); s.listen()\n` +
      "time.sleep(1.5); sys.exit(7)";
    const vncws = await startVncws([String(port), "--", "/usr/bin/python3", "-c", server]);
    try {
      const status = await raceTimeout(vncws.status, 20000);
      assert.ok(
        status !== TIMEOUT && status !== STOPPED,
        `vncws did not exit after its wrapped command did:\n${vncws.output()}`,
      );
      assert.equal(status.code, 7, vncws.output());
    } finally {
      await vncws.stop("SIGKILL");
    }
  },
});
