import assert from "node:assert/strict";
import dgram from "node:dgram";
import {
  createSyslogSink,
  formatSyslog,
  parseSyslogTarget,
  syslogPriority,
} from "../../src/service/syslog.ts";
import { addLogSink, configureLog, logDebug, logInfo, logWarn } from "../../src/base/log.ts";
import { openUnixDatagram } from "../../src/service/unix_datagram.ts";
import { skipUnless } from "../../scripts/testing/util.ts";
import { startDgramReceiver } from "./_dgram_receiver.ts";
import { sleep } from "../../src/base/time.ts";

const PY = skipUnless("/usr/bin/python3", "apt-get install python3");

Deno.test("syslog: RFC 5424 and legacy headers", () => {
  const date = new Date(2026, 0, 2, 3, 4, 5, 678);
  assert.equal(syslogPriority("user", "info"), 14);
  assert.equal(syslogPriority("daemon", "error"), 27);
  assert.equal(
    formatSyslog("session end\nclient=1.2.3.4", "info", {
      legacy: false,
      facility: "user",
      hostname: "box one",
      pid: 42,
      date,
    }),
    `<14>1 ${date.toISOString()} boxone vncws 42 - - session end client=1.2.3.4`,
  );
  assert.equal(
    formatSyslog("refused", "warn", { legacy: true, facility: "daemon", pid: 7, date }),
    "<28>Jan  2 03:04:05 vncws[7]: refused",
  );
  // UTF-8 text is marked with a BOM in RFC 5424.
  assert.match(
    formatSyslog("tøken", "debug", {
      legacy: false,
      facility: "user",
      hostname: "h",
      pid: 1,
      date,
    }),
    /^<15>1 \S+ h vncws 1 - - \ufefftøken$/,
  );
});

Deno.test("syslog: target parsing", () => {
  assert.deepEqual(parseSyslogTarget("/dev/log"), { kind: "unix", path: "/dev/log" });
  assert.deepEqual(parseSyslogTarget("@syslog"), { kind: "unix", path: "@syslog" });
  assert.deepEqual(parseSyslogTarget("logs.example"), {
    kind: "udp",
    hostname: "logs.example",
    port: 514,
  });
  assert.deepEqual(parseSyslogTarget("10.0.0.1:1514"), {
    kind: "udp",
    hostname: "10.0.0.1",
    port: 1514,
  });
  assert.deepEqual(parseSyslogTarget("[::1]:5514"), { kind: "udp", hostname: "::1", port: 5514 });
  assert.deepEqual(parseSyslogTarget("[::1]"), { kind: "udp", hostname: "::1", port: 514 });
  assert.throws(() => parseSyslogTarget("host:99999"), /host\[:port\]/);
  assert.throws(() => parseSyslogTarget(":514"), /host\[:port\]/);
});

Deno.test("syslog: UDP to a listener on 127.0.0.1, through the log module", async () => {
  const server = dgram.createSocket("udp4");
  const got: string[] = [];
  const arrived = Promise.withResolvers<void>();
  server.on("message", (m) => {
    got.push(new TextDecoder().decode(m));
    if (got.length === 2) arrived.resolve();
  });
  await new Promise<void>((r) => server.bind(0, "127.0.0.1", r));
  const port = server.address().port;
  const sink = createSyslogSink(`127.0.0.1:${port}`, { legacy: false, facility: "daemon" });
  const lines: string[] = [];
  configureLog({ verbose: 0, format: "text", sink: (l) => lines.push(l) });
  const remove = addLogSink(sink);
  try {
    logInfo("session end", { client: "1.2.3.4:5", up: 10 });
    logDebug("not written at verbose 0");
    logWarn("refused", { why: "bad token" });
    await arrived.promise;
    assert.match(got[0], /^<30>1 \S+Z \S+ vncws \d+ - - session end client=1\.2\.3\.4:5 up=10$/);
    assert.match(got[1], /^<28>1 \S+ \S+ vncws \d+ - - refused why="bad token"$/);
    assert.equal(lines.length, 2); // stderr lines are unchanged
    assert.match(lines[0], /INFO {2}session end client=1\.2\.3\.4:5 up=10$/);
  } finally {
    remove();
    sink.close();
    server.close();
  }
});

Deno.test({
  name: "syslog: unix datagram socket (path and abstract), legacy format",
  ignore: PY,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/log`;
    for (const where of [path, `@vncws-test-${Deno.pid}`]) {
      const rx = await startDgramReceiver(where);
      const sink = createSyslogSink(where, { legacy: true, facility: "user" });
      try {
        sink("hello from vncws", "error");
        sink("second", "debug");
        const [a, b] = await rx.messages(2);
        assert.match(
          a,
          new RegExp(
            `^<11>[A-Z][a-z]{2} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d vncws\\[${Deno.pid}\\]: hello from vncws$`,
          ),
        );
        assert.match(b, /^<15>.* vncws\[\d+\]: second$/);
      } finally {
        sink.close();
        await rx.stop();
      }
    }
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("syslog: a missing socket is reported once, never thrown", async () => {
  const errors: string[] = [];
  const sink = createSyslogSink("/nonexistent/vncws-log", {
    legacy: false,
    facility: "user",
    onError: (m) => errors.push(m),
  });
  sink("a", "info");
  sink("b", "info");
  await sleep(50);
  sink.close();
  assert.equal(errors.length, 1);
  assert.match(errors[0], /cannot send to \/nonexistent\/vncws-log: .*ENOENT/);
});

Deno.test({
  name: "unix datagram: the --unstable-net backend sends too (subprocess)",
  ignore: PY,
  fn: async () => {
    const name = `@vncws-unstable-${Deno.pid}`;
    const rx = await startDgramReceiver(name);
    try {
      const mod = new URL("../../src/service/unix_datagram.ts", import.meta.url).href;
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          "--unstable-net",
          `import { openUnixDatagram } from "${mod}";
           const s = openUnixDatagram("${name}");
           await s.send(new TextEncoder().encode("via " + s.backend));
           s.close();`,
        ],
        stderr: "piped",
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      assert.deepEqual(await rx.messages(1), ["via deno"]);
    } finally {
      await rx.stop();
    }
    // The default follows what this process has; FFI can always be asked for.
    const has = typeof (Deno as unknown as Record<string, unknown>).listenDatagram === "function";
    assert.equal(openUnixDatagram("/nonexistent").backend, has ? "deno" : "ffi");
  },
});

Deno.test({
  name: "unix datagram: the FFI backend sends to path and abstract sockets",
  ignore: PY,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      for (const where of [`${dir}/ffi.sock`, `@vncws-ffi-${Deno.pid}`]) {
        const rx = await startDgramReceiver(where);
        const s = openUnixDatagram(where, { backend: "ffi" });
        try {
          assert.equal(s.backend, "ffi");
          await s.send(new TextEncoder().encode("one"));
          await s.send(new TextEncoder().encode("two"));
          assert.deepEqual(await rx.messages(2), ["one", "two"]);
        } finally {
          s.close();
          await rx.stop();
        }
      }
      const s = openUnixDatagram(`${dir}/nobody`, { backend: "ffi" });
      await assert.rejects(s.send(new Uint8Array(1)), /ENOENT/);
      s.close();
      assert.throws(
        () => openUnixDatagram("/x/" + "a".repeat(120), { backend: "ffi" }),
        /too long/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
