/**
 * startWrap with real VNC servers: the port moves to loopback, the server is
 * supervised (exit, ignore, respawn, daemonizing wrappers), and stop()
 * leaves no process behind.
 */
import assert from "node:assert/strict";
import type { WrapConfig } from "../../src/config/config.ts";
import { configureLog } from "../../src/base/log.ts";
import { groupMembers } from "../../src/wrap/proc.ts";
import { tcpListeners } from "../../src/base/procfs.ts";
import { startWrap, type WrapHandle } from "../../src/wrap/supervisor.ts";
import { skipUnless, startProcess } from "../../scripts/testing/util.ts";
import {
  cleanupDisplay,
  exists,
  identify,
  isAlive,
  pickDisplay,
  rfbGreeting,
  waitUntil,
} from "./_helpers.ts";

configureLog({ verbose: 1 });

const LOOPBACK = new Set(["0100007F", "00000000000000000000000001000000"]);

function wrapConfig(command: string[], over: Partial<WrapConfig> = {}): WrapConfig {
  return { command, mode: "exit", portArg: "preload", readyTimeout: 20, ...over };
}

async function settled(p: Promise<unknown>): Promise<boolean> {
  const marker = Symbol();
  const r = await Promise.race([p.then(() => true, () => true), Promise.resolve(marker)]);
  return r !== marker;
}

function assertMovedTo(w: WrapHandle, listenPort: number): void {
  assert.deepEqual(tcpListeners(listenPort), [], `something listens on ${listenPort}`);
  const moved = tcpListeners(w.port);
  assert.ok(moved.length > 0, `nothing listens on ${w.port}`);
  for (const l of moved) assert.ok(LOOPBACK.has(l.address), `listens on ${l.address}`);
}

const tiger = skipUnless("Xtigervnc", "apt-get install tigervnc-standalone-server");

Deno.test({
  name: "wrap: Xtigervnc moves to loopback on IPv4 and IPv6; stop() ends it",
  ignore: tiger,
  async fn() {
    const n = pickDisplay();
    const listenPort = 5900 + n;
    const w = await startWrap(
      wrapConfig([
        "Xtigervnc",
        `:${n}`,
        "-SecurityTypes",
        "None",
        "-noreset",
        "-geometry",
        "320x240",
      ]),
      { listenPort },
    );
    try {
      await w.ready;
      assert.match(await rfbGreeting(w.target), /^RFB 003\.008\n$/);
      assertMovedTo(w, listenPort);
      // Xtigervnc binds both families: both were moved.
      assert.deepEqual(new Set(tcpListeners(w.port).map((l) => l.family)), new Set([4, 6]));
      assert.match(await rfbGreeting(w.targets[1]), /^RFB 003\.008\n$/);
      assert.deepEqual(w.serverPids, [w.childPid]);
      assert.deepEqual(w.target, {
        kind: "tcp",
        hostname: "127.0.0.1",
        port: w.port,
        alternates: ["::1"],
      });
    } finally {
      const server = identify(w.childPid!);
      await w.stop();
      assert.equal(isAlive(server), false);
      cleanupDisplay(n);
    }
  },
});

const PY = "/usr/bin/python3";
const noPython = skipUnless([PY, "cc", "setsid"], "apt-get install python3 gcc util-linux");

/** A python TCP server that binds 0.0.0.0:PORT and [::]:PORT and listens. */
function pyServer(port: number): string[] {
  return [
    PY,
    "-c",
    "import socket,time\n" +
    `a=socket.socket(); a.bind(("0.0.0.0",${port})); a.listen()\n` +
    `b=socket.socket(socket.AF_INET6); b.bind(("::",${port})); b.listen()\n` +
    "time.sleep(600)",
  ];
}

Deno.test({
  name: "wrap: exit mode resolves done with the command's exit code; ready explains",
  ignore: skipUnless("sh", "apt-get install dash"),
  async fn() {
    const w = await startWrap(wrapConfig(["sh", "-c", "exit 7"]), {
      listenPort: 5999,
      output: "null",
    });
    try {
      assert.equal(await w.done, 7);
      await assert.rejects(w.ready, /exited \(code 7\) before it listened on port \d+/);
    } finally {
      await w.stop();
    }
  },
});

Deno.test({
  name: "wrap: a command that never binds → readiness error names the port rule",
  ignore: skipUnless("sleep", "apt-get install coreutils"),
  async fn() {
    const w = await startWrap(wrapConfig(["sleep", "30"], { readyTimeout: 1 }), {
      listenPort: 5901,
      output: "null",
    });
    try {
      const child = identify(w.childPid!);
      await assert.rejects(
        w.ready,
        (e: Error) =>
          e.message.includes(
            `did not listen on 127.0.0.1:${w.port} or [::1]:${w.port} within 1 s`,
          ) &&
          e.message.includes("5900+N") && e.message.includes("--wrap-port-arg=arg"),
      );
      assert.equal(await settled(w.done), false);
      await w.stop();
      assert.equal(isAlive(child), false);
    } finally {
      await w.stop();
    }
  },
});

Deno.test({
  name: "wrap: respawn restarts a killed server on the same port and counts it",
  ignore: noPython,
  async fn() {
    const listenPort = 5900 + pickDisplay();
    const w = await startWrap(wrapConfig(pyServer(listenPort), { mode: "respawn" }), {
      listenPort,
      output: "null",
    });
    try {
      await w.ready;
      assertMovedTo(w, listenPort);
      const first = identify(w.childPid!);
      Deno.kill(first.pid, "SIGKILL");
      await waitUntil(
        () => w.restarts === 1 && w.childPid !== first.pid && tcpListeners(w.port).length > 0,
        "the respawned server to listen",
      );
      assertMovedTo(w, listenPort);
      assert.equal(await settled(w.done), false);
    } finally {
      await w.stop();
    }
  },
});

Deno.test({
  name: "wrap: a daemonizing wrapper is followed to its server; exit mode waits for the server",
  ignore: noPython,
  async fn() {
    const listenPort = 5900 + pickDisplay();
    // The wrapper starts the server in a new session and exits 0, like vncserver.
    const cmd = [
      "sh",
      "-c",
      'setsid "$@" >/dev/null 2>&1 </dev/null & exit 0',
      "sh",
      ...pyServer(listenPort),
    ];
    const w = await startWrap(wrapConfig(cmd), { listenPort, output: "null" });
    try {
      await w.ready;
      const wrapper = w.childPid!;
      await waitUntil(
        () => processGone(wrapper) && w.serverPids.length === 1,
        "the wrapper to exit and be reaped",
      );
      const [server] = w.serverPids;
      assert.notEqual(server, wrapper);
      assert.equal(await settled(w.done), false);
      Deno.kill(server, "SIGTERM");
      assert.equal(await w.done, 0);
    } finally {
      await w.stop();
    }
  },
});

function processGone(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return false;
  } catch {
    return true;
  }
}

Deno.test({
  name:
    "wrap: when the vncws process is SIGKILLed, the shim ends the server (also a daemonized one)",
  ignore: noPython,
  async fn() {
    const parentScript = new URL("./_orphan_parent.ts", import.meta.url).pathname;
    for (const daemonize of [false, true]) {
      const listenPort = 5900 + pickDisplay();
      const server = pyServer(listenPort);
      const cmd = daemonize
        ? ["sh", "-c", 'setsid "$@" >/dev/null 2>&1 </dev/null & exit 0', "sh", ...server]
        : server;
      const parent = startProcess(Deno.execPath(), [
        "run",
        "-A",
        parentScript,
        String(listenPort),
        ...cmd,
      ]);
      let s: { pid: number; start: number } | undefined;
      try {
        const line = await parent.waitFor(/\{.*\}\n/, 20000);
        const info = JSON.parse(/\{.*\}/.exec(line)![0]) as { servers: number[]; port: number };
        assert.equal(info.servers.length, 1);
        s = identify(info.servers[0]);
        const environ = Deno.readTextFileSync(`/proc/${s.pid}/environ`).split("\0");
        const report = environ.find((e) => e.startsWith("VNCWS_REBIND_REPORT="))!.slice(20);
        const dir = report.slice(0, -"/report".length);
        await parent.stop("SIGKILL");
        await waitUntil(() => !isAlive(s!), `server ${s.pid} to end after its vncws was killed`);
        assert.deepEqual(tcpListeners(info.port), []);
        // The watcher also removed the private directory the killed vncws left.
        await waitUntil(() => !exists(dir), `${dir} to be removed`);
      } finally {
        await parent.stop("SIGKILL");
        if (s && isAlive(s)) Deno.kill(s.pid, "SIGKILL");
      }
    }
  },
});

const tight = skipUnless(
  ["tightvncserver", "Xtightvnc", "vncpasswd"],
  "apt-get install tightvncserver xfonts-base",
);

/** A HOME for tightvncserver: a password file and a session that just sleeps. */
async function tightHome(): Promise<string> {
  const home = await Deno.makeTempDir({ prefix: "vncws-tight-home-" });
  await Deno.mkdir(`${home}/.vnc`, { mode: 0o700 });
  const pw = new Deno.Command("vncpasswd", { args: ["-f"], stdin: "piped", stdout: "piped" })
    .spawn();
  const writer = pw.stdin.getWriter();
  await writer.write(new TextEncoder().encode("secret12\nsecret12\n"));
  await writer.close();
  const out = await pw.output();
  await Deno.writeFile(`${home}/.vnc/passwd`, out.stdout, { mode: 0o600 });
  await Deno.writeTextFile(`${home}/.vncstartup`, "#!/bin/sh\nexec sleep 600\n", { mode: 0o755 });
  return home;
}

for (const mode of ["ignore", "exit"] as const) {
  Deno.test({
    name: `wrap: tightvncserver :N (daemonizes) with mode ${mode}; stop() leaves no Xtightvnc`,
    ignore: tight,
    async fn() {
      const n = pickDisplay();
      const listenPort = 5900 + n;
      const home = await tightHome();
      const w = await startWrap(
        wrapConfig(["tightvncserver", `:${n}`, "-geometry", "320x240"], { mode }),
        { listenPort, env: { HOME: home, USER: Deno.env.get("USER") ?? "root" }, output: "null" },
      );
      const wrapper = w.childPid!;
      try {
        await w.ready;
        assert.match(await rfbGreeting(w.target), /^RFB 003\.00[38]\n$/);
        assertMovedTo(w, listenPort);
        await waitUntil(
          () => processGone(wrapper) && w.serverPids.length === 1,
          "tightvncserver to exit, leaving Xtightvnc",
        );
        const server = identify(w.serverPids[0]);
        assert.match(Deno.readTextFileSync(`/proc/${server.pid}/cmdline`), /Xtightvnc/);
        // The wrapper has exited 0, but its server lives: exit mode keeps going.
        assert.equal(await settled(w.done), false);
        assert.match(await rfbGreeting(w.target), /^RFB 003\.00[38]\n$/);
        await w.stop();
        assert.equal(isAlive(server), false, "Xtightvnc still runs after stop()");
        assert.deepEqual(groupMembers(wrapper), [], "the session's processes still run");
      } finally {
        await w.stop();
        cleanupDisplay(n);
        await Deno.remove(home, { recursive: true });
      }
    },
  });
}

Deno.test({
  name: "wrap: x11vnc on Xvfb gets -rfbport on loopback (portArg auto picks arguments)",
  ignore: skipUnless(["x11vnc", "Xvfb"], "apt-get install x11vnc xvfb"),
  async fn() {
    const n = pickDisplay();
    const xvfb = startProcess("Xvfb", [
      `:${n}`,
      "-nolisten",
      "tcp",
      "-noreset",
      "-screen",
      "0",
      "320x240x24",
    ]);
    try {
      await waitUntil(() => exists(`/tmp/.X11-unix/X${n}`), `Xvfb :${n}`);
      const listenPort = 5900 + pickDisplay();
      const w = await startWrap(
        wrapConfig(["x11vnc", "-display", `:${n}`, "-forever", "-shared", "-nopw"], {
          portArg: "auto",
        }),
        { listenPort, output: "null" },
      );
      try {
        await w.ready;
        const cmdline = Deno.readTextFileSync(`/proc/${w.childPid}/cmdline`).split("\0");
        assert.ok(
          cmdline.includes("-rfbport") && cmdline.includes(String(w.port)),
          cmdline.join(" "),
        );
        assert.ok(
          !Deno.readTextFileSync(`/proc/${w.childPid}/environ`).includes("REBIND_OLD_PORT"),
        );
        assert.match(await rfbGreeting(w.target), /^RFB 003\.008\n$/);
        assertMovedTo(w, listenPort);
        assert.deepEqual(w.serverPids, [w.childPid]);
        const server = identify(w.childPid!);
        await w.stop();
        assert.equal(isAlive(server), false);
      } finally {
        await w.stop();
      }
    } finally {
      await xvfb.stop();
      cleanupDisplay(n);
    }
  },
});

Deno.test("wrap: --wrap-port-arg=arg with an unknown command says which servers are known", async () => {
  await assert.rejects(
    startWrap(wrapConfig(["sleep", "5"], { portArg: "arg" }), { listenPort: 5901, output: "null" }),
    /does not know how to give "sleep" a port \(known: Xvnc, .*x11vnc/,
  );
});

Deno.test("wrap: a command that does not exist is named in the error", async () => {
  await assert.rejects(
    startWrap(wrapConfig(["vncws-no-such-command-xyz"]), { listenPort: 5901, output: "null" }),
    /cannot start the wrapped command "vncws-no-such-command-xyz": not found/,
  );
});

Deno.test({
  name: "wrap: a listen port that does not match :N → warning up front and a precise error",
  ignore: skipUnless("sleep", "apt-get install coreutils"),
  async fn() {
    const lines: string[] = [];
    const enc = new TextEncoder();
    configureLog({
      verbose: 1,
      sink: (l) => {
        lines.push(l);
        Deno.stderr.writeSync(enc.encode(l + "\n"));
      },
    });
    // sleep rejects ":3" and exits 1; what matters is how vncws reads the command line.
    const w = await startWrap(wrapConfig(["sleep", "30", ":3"], { readyTimeout: 1 }), {
      listenPort: 6080,
      output: "null",
    });
    try {
      assert.ok(
        lines.some((l) => /WARN .*will listen on port 5903 .*vncws listens on 6080/.test(l)),
        lines.join("\n"),
      );
      await assert.rejects(w.ready, /would listen on 5903: run vncws 5903 -- sleep 30 :3/);
    } finally {
      await w.stop();
    }
  },
});
