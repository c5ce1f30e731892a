/**
 * The RFB gateway against real VNC servers: vncws holds the password and
 * the viewer (a raw RFB client on the shared port, and the bundled noVNC
 * viewer in headless Chromium) gets security type None and the desktop;
 * with a wrong password the viewer reads "the VNC server refused the
 * credentials" and vncws logs one line. Servers: Xtigervnc VncAuth,
 * x11vnc -rfbauth on Xvfb, Xtigervnc VeNCrypt X509Vnc (a test CA), and
 * Xtigervnc TLSVnc, which vncws cannot speak (anonymous Diffie-Hellman).
 * X displays :40–:49 only.
 */
import assert from "node:assert/strict";
import { makeCerts, type TestCerts } from "../../scripts/testing/certs.ts";
import {
  connectRetry,
  freePort,
  type Proc,
  readExactly,
  readToEof,
  skipUnless,
  startProcess,
  startVncws,
  startXtigervnc,
  waitUntil,
  writeAll,
  writeVncPasswordFile,
} from "../../scripts/testing/util.ts";
import { CHROMIUM, hex, launchBrowser, samplePixels, waitForStatus } from "../browser/_browser.ts";

const PASSWORD = "s3cret12";
const BACKGROUND = 0x33aa55;
const REFUSED = "the VNC server refused the credentials";
const enc = new TextEncoder();
const dec = new TextDecoder();

const ignore = skipUnless(
  ["Xtigervnc", "tigervncpasswd", "xsetroot", "openssl", CHROMIUM],
  "apt-get install tigervnc-standalone-server tigervnc-tools x11-xserver-utils openssl chromium",
);
const ignoreX11vnc = ignore || skipUnless(["x11vnc", "Xvfb"], "apt-get install x11vnc xvfb");

/** A VNC password file (`tigervncpasswd -f`) in `dir`. */
async function vncPasswordFile(dir: string, password: string): Promise<string> {
  await writeVncPasswordFile(`${dir}/vncpasswd`, password);
  return `${dir}/vncpasswd`;
}

let passwordFiles = 0;

/** vncws's own password file (first line); its name does not hold the password. */
async function plainPasswordFile(dir: string, password: string): Promise<string> {
  const path = `${dir}/pw-${++passwordFiles}`;
  await Deno.writeTextFile(path, password + "\n", { mode: 0o600 });
  return path;
}

/** The password vncws holds with `args` (its --target-password-file's first line), if any. */
async function heldPassword(args: string[]): Promise<string | undefined> {
  const i = args.indexOf("--target-password-file");
  return i < 0 ? undefined : (await Deno.readTextFile(args[i + 1])).split("\n")[0];
}

async function solidRoot(display: number): Promise<void> {
  const st = await new Deno.Command("xsetroot", {
    args: ["-solid", hex(BACKGROUND)],
    env: { DISPLAY: `:${display}` },
  }).output();
  if (!st.success) throw new Error(`xsetroot failed: ${dec.decode(st.stderr)}`);
}

/** What a raw RFB client (3.8) on the shared port gets: the types offered and ServerInit, or the reason. */
async function rawClient(port: number): Promise<
  { types: number[]; width: number; height: number } | { reason: string }
> {
  const conn = await connectRetry(port);
  try {
    assert.equal(dec.decode(await readExactly(conn, 12)), "RFB 003.008\n");
    await writeAll(conn, enc.encode("RFB 003.008\n"));
    const n = (await readExactly(conn, 1))[0];
    if (n === 0) {
      const len = new DataView((await readExactly(conn, 4)).buffer).getUint32(0);
      const reason = dec.decode(await readExactly(conn, len));
      assert.equal((await readToEof(conn)).length, 0);
      return { reason };
    }
    const types = Array.from(await readExactly(conn, n));
    await writeAll(conn, new Uint8Array([1]));
    assert.deepEqual(Array.from(await readExactly(conn, 4)), [0, 0, 0, 0]);
    await writeAll(conn, new Uint8Array([1])); // ClientInit
    const head = new DataView((await readExactly(conn, 24)).buffer);
    return { types, width: head.getUint16(0), height: head.getUint16(2) };
  } finally {
    conn.close();
  }
}

/** The bundled viewer with no password: its status text, and the canvas colours when connected. */
async function browse(port: number): Promise<{ status: string; rgb: number[] }> {
  const browser = await launchBrowser();
  try {
    const { page } = browser;
    await page.goto(`http://127.0.0.1:${port}/vnc.html?autoconnect=1`);
    const status = await waitForStatus(page, /^(Connected|Failed|Password required)/);
    if (!status.startsWith("Connected")) return { status, rgb: [] };
    const pts: Array<[number, number]> = [[10, 10], [160, 120], [300, 220]];
    let s = await samplePixels(page, pts);
    for (let i = 0; i < 50 && !s.rgb.every((c) => c === BACKGROUND); i++) {
      await new Promise((r) => setTimeout(r, 100));
      s = await samplePixels(page, pts);
    }
    return { status, rgb: s.rgb };
  } finally {
    await browser.close();
  }
}

/** Gateway failure lines vncws logged. */
function failureLines(vncws: Proc): string[] {
  return vncws.output().split("\n").filter((l) => l.includes("rfb gateway failed"));
}

/** vncws in front of `rfbPort` with `args`; a raw client and the browser get the desktop. */
async function expectDesktop(rfbPort: number, args: string[]): Promise<void> {
  const port = freePort();
  const vncws = await startVncws([...args, String(port), `127.0.0.1:${rfbPort}`]);
  try {
    const raw = await rawClient(port);
    assert.ok("types" in raw, `raw client refused: ${JSON.stringify(raw)}`);
    assert.deepEqual(raw.types, [1]); // None only: the viewer needs no password
    assert.deepEqual([raw.width, raw.height], [320, 240]);
    const seen = await browse(port);
    assert.equal(seen.status, "Connected");
    assert.deepEqual(seen.rgb.map(hex), [BACKGROUND, BACKGROUND, BACKGROUND].map(hex));
    assert.deepEqual(failureLines(vncws), []);
  } finally {
    await vncws.stop();
  }
}

/** vncws in front of `rfbPort` with `args`; both viewers are told `reason`, one log line each. */
async function expectRefused(rfbPort: number, args: string[], reason: RegExp): Promise<void> {
  const port = freePort();
  const vncws = await startVncws([...args, String(port), `127.0.0.1:${rfbPort}`]);
  try {
    const raw = await rawClient(port);
    assert.ok("reason" in raw, `raw client was let in: ${JSON.stringify(raw)}`);
    assert.match(raw.reason, reason);
    await waitUntil(() => failureLines(vncws).length === 1, "the gateway's log line");
    const seen = await browse(port);
    assert.match(seen.status, /^Failed: /);
    assert.match(seen.status, reason);
    await waitUntil(() => failureLines(vncws).length === 2, "the second log line");
    // The password vncws held (wrong-pw in the wrong-password runs), and the server's.
    for (const secret of [await heldPassword(args), PASSWORD]) {
      if (secret) {
        assert.ok(!vncws.output().includes(secret), `${secret.length}-char password logged`);
      }
    }
  } finally {
    await vncws.stop();
  }
}

Deno.test({
  name: "rfb gateway: Xtigervnc VncAuth — vncws's password opens it for viewers without one",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vncws-gw-" });
    const x = await startXtigervnc({
      display: 40,
      depth: 24,
      passwordFile: await vncPasswordFile(dir, PASSWORD),
    });
    try {
      await solidRoot(x.display);
      await expectDesktop(x.rfbPort, [
        "--target-password-file",
        await plainPasswordFile(dir, PASSWORD),
      ]);
      await expectRefused(
        x.rfbPort,
        ["--target-password-file", await plainPasswordFile(dir, "wrong-pw")],
        new RegExp(REFUSED),
      );
      // Without vncws's password and with --rfb-auth none, no type fits: a clear reason.
      await expectRefused(x.rfbPort, ["--rfb-auth", "none"], /no security type in common/);
    } finally {
      await x.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "rfb gateway: x11vnc -rfbauth — the same, a second server implementation",
  ignore: ignoreX11vnc,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vncws-gw-" });
    const display = 41;
    const xvfb = startProcess("Xvfb", [
      "-noreset",
      `:${display}`,
      "-screen",
      "0",
      "320x240x24",
      "-nolisten",
      "tcp",
    ]);
    let x11vnc: Proc | undefined;
    try {
      await waitUntil(async () => {
        const r = await new Deno.Command("xsetroot", {
          args: ["-solid", hex(BACKGROUND)],
          env: { DISPLAY: `:${display}` },
          stderr: "null",
        }).output();
        return r.success;
      }, "Xvfb");
      const rfbPort = freePort();
      x11vnc = startProcess("x11vnc", [
        "-display",
        `:${display}`,
        "-rfbport",
        String(rfbPort),
        "-localhost",
        "-forever",
        "-shared",
        "-rfbauth",
        await vncPasswordFile(dir, PASSWORD),
      ]);
      await x11vnc.waitFor(/PORT=\d+/, 20000);
      await expectDesktop(rfbPort, [
        "--target-password-file",
        await plainPasswordFile(dir, PASSWORD),
      ]);
      await expectRefused(
        rfbPort,
        ["--target-password-file", await plainPasswordFile(dir, "wrong-pw")],
        new RegExp(REFUSED),
      );
    } finally {
      await x11vnc?.stop();
      await xvfb.stop();
      for (const f of [`/tmp/.X${display}-lock`, `/tmp/.X11-unix/X${display}`]) {
        await Deno.remove(f).catch(() => {});
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Xtigervnc on `display` with VeNCrypt `type` and the test CA's server certificate. */
function startTlsXvnc(display: number, type: string, certs: TestCerts, passwordFile: string) {
  return startXtigervnc({
    display,
    depth: 24,
    security: [
      "-SecurityTypes",
      type,
      "-rfbauth",
      passwordFile,
      "-X509Cert",
      certs.serverCert,
      "-X509Key",
      certs.serverKey,
    ],
  });
}

Deno.test({
  name:
    "rfb gateway: Xtigervnc VeNCrypt X509Vnc — verified against --target-ca, then VncAuth inside TLS",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vncws-gw-" });
    const certs = await makeCerts();
    const x = await startTlsXvnc(42, "X509Vnc", certs, await vncPasswordFile(dir, PASSWORD));
    try {
      await solidRoot(x.display);
      const good = await plainPasswordFile(dir, PASSWORD);
      await expectDesktop(x.rfbPort, ["--target-password-file", good, "--target-ca", certs.ca]);
      await expectRefused(
        x.rfbPort,
        [
          "--target-password-file",
          await plainPasswordFile(dir, "wrong-pw"),
          "--target-ca",
          certs.ca,
        ],
        new RegExp(REFUSED),
      );
      // The server's certificate is not trusted without the test CA.
      await expectRefused(
        x.rfbPort,
        ["--target-password-file", good],
        /could not verify the VNC server's TLS certificate/,
      );
    } finally {
      await x.stop();
      await certs.remove();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "rfb gateway: Xtigervnc TLSVnc only — refused with the reason (no anonymous DH in Deno's TLS)",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vncws-gw-" });
    const certs = await makeCerts();
    const x = await startTlsXvnc(43, "TLSVnc", certs, await vncPasswordFile(dir, PASSWORD));
    try {
      await expectRefused(
        x.rfbPort,
        ["--target-password-file", await plainPasswordFile(dir, PASSWORD)],
        /no usable VeNCrypt subtype.*anonymous Diffie-Hellman/,
      );
    } finally {
      await x.stop();
      await certs.remove();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "rfb gateway: TLSVnc and VncAuth offered — vncws skips TLSVnc and answers VncAuth",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vncws-gw-" });
    const certs = await makeCerts();
    const x = await startTlsXvnc(44, "TLSVnc,VncAuth", certs, await vncPasswordFile(dir, PASSWORD));
    try {
      await solidRoot(x.display);
      await expectDesktop(x.rfbPort, [
        "--target-password-file",
        await plainPasswordFile(dir, PASSWORD),
      ]);
      await expectRefused(
        x.rfbPort,
        ["--target-password-file", await plainPasswordFile(dir, "wrong-pw")],
        new RegExp(REFUSED),
      );
    } finally {
      await x.stop();
      await certs.remove();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "rfb gateway: --rfb-auth without a password — X509None verified and encrypted; vnc only has no type in common",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const certs = await makeCerts();
    const x = await startXtigervnc({
      display: 46,
      depth: 24,
      security: [
        "-SecurityTypes",
        "X509None",
        "-X509Cert",
        certs.serverCert,
        "-X509Key",
        certs.serverKey,
      ],
    });
    try {
      await solidRoot(x.display);
      await expectDesktop(x.rfbPort, ["--rfb-auth", "vencrypt", "--target-ca", certs.ca]);
      await expectRefused(
        x.rfbPort,
        ["--rfb-auth", "vnc,none"],
        /no security type in common.*VeNCrypt/,
      );
    } finally {
      await x.stop();
      await certs.remove();
    }
  },
});

/**
 * A scripted TCP "VNC server" on a free port: each connection runs
 * `script`; with `once`, the port is closed at the first connection (a
 * second connect is refused).
 */
function scriptedServer(script: (conn: Deno.Conn) => Promise<void>, once = false) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const done = (async () => {
    const runs: Promise<void>[] = [];
    try {
      for await (const conn of listener) {
        if (once) listener.close();
        runs.push(script(conn).catch(() => {}).finally(() => conn.close()));
      }
    } catch { /* closed */ }
    await Promise.all(runs);
  })();
  return {
    port,
    async stop() {
      try {
        listener.close();
      } catch { /* closed at the first connection */ }
      await done;
    },
  };
}

Deno.test({
  name:
    "rfb gateway: refused, a silent raw viewer is let go after --head-timeout; one that speaks reads why",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // Not a VNC server: every session fails in the gateway.
    const target = scriptedServer(async (conn) => {
      await writeAll(conn, enc.encode("SSH-2.0-OpenSSH_9.6\r\n"));
      await readToEof(conn);
    });
    const port = freePort();
    const vncws = await startVncws([
      "--rfb-auth",
      "none",
      "--head-timeout",
      "1",
      String(port),
      `127.0.0.1:${target.port}`,
    ]);
    try {
      const raw = await rawClient(port);
      assert.ok("reason" in raw, JSON.stringify(raw));
      assert.match(raw.reason, /could not authenticate to the VNC server/);
      // Silent after the version: vncws closes the connection itself.
      const conn = await connectRetry(port);
      try {
        assert.equal(dec.decode(await readExactly(conn, 12)), "RFB 003.008\n");
        let guard: ReturnType<typeof setTimeout> | undefined;
        const ended = await Promise.race([
          readToEof(conn).then(() => "closed"),
          new Promise((r) => guard = setTimeout(() => r("still open after 30 s"), 30_000)),
        ]);
        clearTimeout(guard);
        assert.equal(ended, "closed");
      } finally {
        conn.close();
      }
      await waitUntil(() => failureLines(vncws).length === 2, "both failures logged");
    } finally {
      await vncws.stop();
      await target.stop();
    }
  },
});

Deno.test({
  name:
    "rfb gateway: the new connection without VeNCrypt fails — logged with the target, the viewer gets a plain reason",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vncws-gw-" });
    // VeNCrypt with a TLS* subtype only beside VncAuth, then the port is gone.
    const target = scriptedServer(async (conn) => {
      await writeAll(conn, enc.encode("RFB 003.008\n"));
      await readExactly(conn, 12);
      await writeAll(conn, new Uint8Array([2, 19, 2]));
      assert.equal((await readExactly(conn, 1))[0], 19);
      await writeAll(conn, new Uint8Array([0, 2]));
      await readExactly(conn, 2);
      await writeAll(conn, new Uint8Array([0, 1, 0, 0, 1, 2])); // ok; one subtype: TLSVnc (258)
      await readExactly(conn, 4); // 0: none of these
    }, true);
    const port = freePort();
    const vncws = await startVncws([
      "--target-password-file",
      await plainPasswordFile(dir, PASSWORD),
      String(port),
      `127.0.0.1:${target.port}`,
    ]);
    try {
      const raw = await rawClient(port);
      assert.ok("reason" in raw, JSON.stringify(raw));
      assert.equal(raw.reason, "vncws could not reach the VNC server");
      await waitUntil(() => failureLines(vncws).length === 1, "the failure logged");
      const [line] = failureLines(vncws);
      assert.match(line, new RegExp(`target=127\\.0\\.0\\.1:${target.port}`));
      assert.match(line, /connecting again to try without vencrypt failed/);
      assert.ok(!vncws.output().includes(PASSWORD), "the password is never logged");
    } finally {
      await vncws.stop();
      await target.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
