import assert from "node:assert/strict";
import { listenFds, sdNotify } from "../../src/service/systemd.ts";
import { skipUnless, startProcess } from "../../scripts/testing/util.ts";
import { startDgramReceiver } from "./_dgram_receiver.ts";
import { startEchoTarget } from "../../scripts/testing/targets.ts";
import { wsConnect } from "../../scripts/testing/ws_client.ts";
import { sleep } from "../../src/base/time.ts";

const PY = skipUnless("/usr/bin/python3", "apt-get install python3");
const CHILD = new URL("./_systemd_child.ts", import.meta.url).pathname;

/**
 * What systemd does, in a real process: open a listening socket, put it on
 * fd 3 (or stdin for inetd), set LISTEN_PID to the pid that will run
 * vncws (exec keeps it) and exec. Prints the address first.
 */
const LAUNCHER = `
import os, socket, sys
kind, mode, deno, child, count = sys.argv[1:6]
if kind == "tcp":
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
    print("addr", s.getsockname()[1], flush=True)
else:
    path = sys.argv[6]
    s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(8)
    print("addr", path, flush=True)
fd = 0 if mode == "inetd" else 3
os.dup2(s.fileno(), fd); os.set_inheritable(fd, True)
if mode != "inetd":
    os.environ["LISTEN_FDS"] = "1"
    os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(deno, [deno, "run", "-A", child, mode, count])
`;

async function launch(
  kind: "tcp" | "unix",
  mode: "systemd" | "inetd",
  env: Record<string, string>,
  extra: string[] = [],
  child = CHILD,
  ready: string | RegExp = "notified=",
) {
  const p = startProcess("/usr/bin/python3", [
    "-c",
    LAUNCHER,
    kind,
    mode,
    Deno.execPath(),
    child,
    "2",
    ...extra,
  ], { env });
  const out = await p.waitFor(/addr \S+\n/);
  const addr = /addr (\S+)\n/.exec(out)![1];
  await p.waitFor(ready);
  return { p, addr };
}

async function talk(conn: Deno.Conn, text: string): Promise<string> {
  await conn.write(new TextEncoder().encode(text + "\n"));
  const got: number[] = [];
  const buf = new Uint8Array(100);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    got.push(...buf.subarray(0, n));
  }
  conn.close();
  return new TextDecoder().decode(new Uint8Array(got));
}

Deno.test({
  name:
    "systemd: socket activation (LISTEN_FDS, fd 3) serves TCP, notifies READY=1, exits after close",
  ignore: PY,
  fn: async () => {
    const notify = `@vncws-notify-${Deno.pid}`;
    const rx = await startDgramReceiver(notify);
    const { p, addr } = await launch("tcp", "systemd", { NOTIFY_SOCKET: notify });
    try {
      assert.match(
        p.output(),
        /adopted \{"transport":"tcp","hostname":"127\.0\.0\.1","port":\d+\} env=unset/,
      );
      assert.match(p.output(), /notified=true/);
      const [ready] = await rx.messages(1);
      assert.match(ready, /^READY=1\nMAINPID=\d+\nSTATUS=serving$/);
      const childPid = /MAINPID=(\d+)/.exec(ready)![1];
      for (const word of ["one", "two"]) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(addr) });
        assert.equal(await talk(conn, word), `echo:${word} pid=${childPid}\n`);
      }
      // The process exits by itself once its adopted listener is closed.
      const status = await p.status;
      assert.equal(status.code, 0, p.output());
      assert.match(p.output(), /client eof=true[\s\S]*after close: BadResource[\s\S]*child done/);
    } finally {
      await p.stop("SIGKILL");
      await rx.stop();
    }
  },
});

Deno.test({
  name: "systemd: --inetd (listening socket on fd 0) and a unix stream socket",
  ignore: PY,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const a = await launch("tcp", "inetd", {});
      try {
        assert.match(a.p.output(), /notified=false/); // no NOTIFY_SOCKET
        for (const w of ["x", "y"]) {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(a.addr) });
          assert.match(await talk(conn, w), new RegExp(`^echo:${w} pid=\\d+\\n$`));
        }
        assert.equal((await a.p.status).code, 0, a.p.output());
      } finally {
        await a.p.stop("SIGKILL");
      }
      const u = await launch("unix", "systemd", {}, [`${dir}/s.sock`]);
      try {
        assert.match(u.p.output(), /adopted \{"transport":"unix"/);
        for (const w of ["u1", "u2"]) {
          const conn = await Deno.connect({ transport: "unix", path: u.addr });
          assert.match(await talk(conn, w), new RegExp(`^echo:${w} pid=\\d+\\n$`));
        }
        assert.equal((await u.p.status).code, 0, u.p.output());
      } finally {
        await u.p.stop("SIGKILL");
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("systemd: LISTEN_PID for another process, or no variables, is not activation", () => {
  const env = (vars: Record<string, string>) => {
    const m = new Map(Object.entries(vars));
    return { get: (k: string) => m.get(k), delete: (k: string) => void m.delete(k), m };
  };
  const other = env({ LISTEN_PID: String(Deno.pid + 1), LISTEN_FDS: "1" });
  assert.equal(listenFds(other), undefined);
  assert.equal(other.m.size, 0, "variables are unset either way");
  assert.equal(listenFds(env({})), undefined);
  assert.deepEqual(
    listenFds(env({ LISTEN_PID: String(Deno.pid), LISTEN_FDS: "2", LISTEN_FDNAMES: "web:ops" })),
    { fds: [3, 4], names: ["web", "ops"] },
  );
  assert.equal(listenFds(env({ LISTEN_PID: String(Deno.pid), LISTEN_FDS: "0" })), undefined);
});

Deno.test({
  name: "systemd: sdNotify to a path socket; unset NOTIFY_SOCKET sends nothing",
  ignore: PY,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const rx = await startDgramReceiver(`${dir}/notify`);
    try {
      const env = (v?: string) => ({ get: (k: string) => (k === "NOTIFY_SOCKET" ? v : undefined) });
      assert.equal(await sdNotify("STOPPING=1", env(`${dir}/notify`)), true);
      assert.equal(await sdNotify("READY=1", env(undefined)), false);
      assert.deepEqual(await rx.messages(1), ["STOPPING=1"]);
      await assert.rejects(sdNotify("READY=1", env(`${dir}/missing`)), /ENOENT/);
    } finally {
      await rx.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "systemd: real systemd-socket-activate starts the child with the socket on fd 3",
  ignore: PY || skipUnless("systemd-socket-activate", "apt-get install systemd"),
  fn: async () => {
    const notify = `@vncws-sa-${Deno.pid}`;
    const rx = await startDgramReceiver(notify);
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    const p = startProcess("systemd-socket-activate", [
      "-l",
      `127.0.0.1:${port}`,
      "-E",
      `NOTIFY_SOCKET=${notify}`,
      Deno.execPath(),
      "run",
      "-A",
      CHILD,
      "systemd",
      "1",
    ]);
    try {
      await p.waitFor(`Listening on 127.0.0.1:${port}`);
      // systemd-socket-activate execs the child on the first connection.
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      assert.match(await talk(conn, "activated"), /^echo:activated pid=\d+\n$/);
      assert.match((await rx.messages(1))[0], /^READY=1\n/);
      assert.equal((await p.status).code, 0, p.output());
      assert.match(p.output(), /env=unset/);
    } finally {
      await p.stop("SIGKILL");
      await rx.stop();
    }
  },
});

Deno.test({
  name: "systemd: the sample units pass systemd-analyze verify",
  ignore: skipUnless("systemd-analyze", "apt-get install systemd"),
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const units = new URL("../../scripts/systemd/", import.meta.url).pathname;
      for (const name of ["vncws.service", "vncws.socket"]) {
        // The binary is not installed here: point ExecStart at an executable that exists.
        const text = (await Deno.readTextFile(units + name)).replaceAll(
          "/usr/local/bin/vncws",
          Deno.execPath(),
        );
        await Deno.writeTextFile(`${dir}/${name}`, text);
      }
      const out = await new Deno.Command("systemd-analyze", {
        args: ["verify", `${dir}/vncws.socket`, `${dir}/vncws.service`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.ok(out.success, text);
      assert.equal(text.trim(), "");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "ops integration: socket-activated serve() with --record, metrics and the status table",
  ignore: PY,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const target = startEchoTarget();
    const child = new URL("./_serve_child.ts", import.meta.url).pathname;
    const { p, addr } = await launch(
      "tcp",
      "systemd",
      { TARGET_PORT: String(target.port), RECORD: `${dir}/rec` },
      [],
      child,
      /ops port \d+\n/,
    );
    try {
      const ops = `http://127.0.0.1:${/ops port (\d+)/.exec(p.output())![1]}`;
      const ws = await wsConnect(Number(addr));
      assert.equal(ws.response.status, 101);
      assert.equal(new TextDecoder().decode(await ws.readBytes(12)), "RFB 003.008\n");
      await ws.sendBinary("it's\x00");
      assert.equal(new TextDecoder().decode(await ws.readBytes(5)), "it's\x00");
      // Scraped while the session runs.
      const live = await (await fetch(`${ops}/sessions.json`)).json();
      assert.equal(live.length, 1);
      assert.equal(live[0].bytesToTarget, 5);
      assert.equal(live[0].bytesToClient, 17);
      const m1 = await (await fetch(`${ops}/metrics`)).text();
      assert.ok(m1.split("\n").includes("vncws_sessions_active 1"), m1);
      await ws.sendClose(1000, "bye");
      await ws.waitClose();
      ws.close();
      // After the end: totals counted once, the session gone, the recording complete.
      let m2 = "";
      for (let i = 0; i < 50 && !m2.includes("vncws_sessions_active 0"); i++) {
        await sleep(50);
        m2 = await (await fetch(`${ops}/metrics`)).text();
      }
      const lines = m2.split("\n");
      assert.ok(lines.includes("vncws_sessions_active 0"), m2);
      assert.ok(lines.includes('vncws_bytes_total{direction="to_target"} 5'), m2);
      assert.ok(lines.includes('vncws_bytes_total{direction="to_client"} 17'), m2);
      let text = "";
      for (let i = 0; i < 50 && !text.endsWith("'EOF'];\n"); i++) {
        await sleep(50);
        text = await Deno.readTextFile(`${dir}/rec.1`).catch(() => "");
      }
      assert.match(
        text,
        /^var VNC_frame_data = \[\n'\{\d+\{RFB 003\.008\\n',\n'\}\d+\}it\\'s\\x00',\n'\{\d+\{it\\'s\\x00',\n'EOF'\];\n$/,
      );
      assert.equal((await Deno.stat(`${dir}/rec.1`)).mode! & 0o777, 0o600);
      const status = await p.stop("SIGTERM");
      assert.equal(status.code, 0, p.output());
    } finally {
      await p.stop("SIGKILL");
      await target.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
