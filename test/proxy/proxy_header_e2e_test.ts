/**
 * `--accept-proxy-protocol` with a real HAProxy (`mode tcp`, `send-proxy-v2`
 * and `send-proxy`) or nginx (`stream`, `proxy_protocol on;`) in front of the
 * real vncws: clients connect to HAProxy
 * from chosen loopback addresses (127.0.0.x, node:net `localAddress`), and
 * vncws sees, logs, allows or denies the address HAProxy names — for
 * WebSocket clients, raw VNC clients, TLS with `--ssl-only` and
 * `--unix-listen`. A forged header from a peer that is not listed is
 * refused, and a listed peer that sends none is closed with a log line.
 */
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import { makeCerts, sslOnlyArgs } from "../../scripts/testing/certs.ts";
import {
  HAPROXY,
  NGINX,
  NGINX_STREAM,
  startHaproxy,
  startNginxStream,
  type TestBalancer,
} from "../../scripts/testing/balancers.ts";
import { startEchoTarget } from "../../scripts/testing/targets.ts";
import {
  freePort,
  type Proc,
  skipUnless,
  startVncws,
  tempDir,
} from "../../scripts/testing/util.ts";
import { upgradeRequest } from "../../scripts/testing/ws_client.ts";

const NO_HAPROXY = skipUnless([HAPROXY, "openssl"], "apt-get install haproxy openssl");

/** A WebSocket upgrade request (the Host port does not matter here). */
const upgrade = () => upgradeRequest(6080);

/** Where a test client connects, and from which loopback address. */
interface Dial {
  port?: number;
  path?: string;
  source?: string;
  tls?: boolean;
}

/**
 * Connects, writes `send` (if any), and collects what comes back until
 * `until` holds for it or the server closes; then hangs up.
 */
function talk(
  dial: Dial,
  send: string | Uint8Array | undefined,
  until: (text: string) => boolean,
): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const where = dial.path !== undefined
      ? { path: dial.path }
      : { host: "127.0.0.1", port: dial.port!, localAddress: dial.source };
    const socket: net.Socket = dial.tls
      ? tls.connect({ ...where, rejectUnauthorized: false, servername: "localhost" })
      : net.connect(where);
    let text = "";
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer; got ${JSON.stringify(text)}`));
    }, 15_000);
    socket.on(dial.tls ? "secureConnect" : "connect", () => {
      if (send !== undefined) socket.write(send);
    });
    socket.on("data", (b: Uint8Array) => {
      text += new TextDecoder("latin1").decode(b);
      if (until(text)) finish(false);
    });
    socket.on("end", () => finish(true));
    socket.on("close", () => finish(true));
    socket.on("error", () => finish(true));
  });
}

/** A WebSocket upgrade: the response's status, and whether the target's banner came through. */
async function wsSession(dial: Dial): Promise<{ status: number; banner: boolean }> {
  const { text } = await talk(
    dial,
    upgrade(),
    (t) => t.includes("RFB 003.008") || /^HTTP\/1\.1 [^1]/.test(t) && t.includes("\r\n\r\n"),
  );
  return { status: Number(text.slice(9, 12)), banner: text.includes("RFB 003.008\n") };
}

/** A native VNC viewer: silent, it waits for the server to speak first (the banner). */
async function rawSession(dial: Dial): Promise<string> {
  return (await talk(dial, undefined, (t) => t.includes("RFB 003.008\n"))).text;
}

/** Starts a balancer in front of `server` (`127.0.0.1:PORT` or a unix socket path). */
type Balancer = (server: string) => Promise<TestBalancer>;

const haproxy = (sendProxy: "send-proxy" | "send-proxy-v2"): Balancer => (server) =>
  startHaproxy({ server, sendProxy });

async function withStack(
  balancer: Balancer,
  args: string[],
  fn: (front: number, vncws: number, proc: Proc) => Promise<void>,
  listen?: { unix: string },
): Promise<void> {
  const target = startEchoTarget();
  const vport = freePort();
  const vncws = await startVncws([
    "-v",
    ...args,
    ...(listen ? ["--unix-listen", listen.unix] : [`127.0.0.1:${vport}`]),
    `127.0.0.1:${target.port}`,
  ]);
  const front = await balancer(listen ? listen.unix : `127.0.0.1:${vport}`);
  try {
    await fn(front.port, vport, vncws);
  } finally {
    await front.stop();
    await vncws.stop();
    await target.close();
  }
}

const FRONTS: Array<[string, Balancer, boolean]> = [
  ["HAProxy send-proxy-v2", haproxy("send-proxy-v2"), NO_HAPROXY],
  ["HAProxy send-proxy", haproxy("send-proxy"), NO_HAPROXY],
  [
    "nginx stream proxy_protocol on",
    (server) => startNginxStream(server),
    skipUnless([NGINX, NGINX_STREAM], "apt-get install nginx libnginx-mod-stream"),
  ],
];

for (const [name, balancer, ignore] of FRONTS) {
  Deno.test({
    name: `${name}: vncws sees, logs and denies the client the balancer names; ` +
      "raw viewers work; forged and missing headers are refused",
    ignore,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const metrics = freePort();
      const args = [
        "--accept-proxy-protocol",
        "127.0.0.1",
        "--deny-ip",
        "127.0.0.9",
        "--metrics",
        `127.0.0.1:${metrics}`,
      ];
      await withStack(balancer, args, async (front, direct, vncws) => {
        // Allowed: 127.0.0.8 through HAProxy, named in vncws's log (not HAProxy's 127.0.0.1).
        assert.deepEqual(await wsSession({ port: front, source: "127.0.0.8" }), {
          status: 101,
          banner: true,
        });
        await vncws.waitFor(/session end client=127\.0\.0\.8:\d+ /);
        assert.match(vncws.output(), /PROXY header client=127\.0\.0\.8:\d+ via=127\.0\.0\.1:\d+/);
        // Denied: --deny-ip 127.0.0.9 applies to the address HAProxy names.
        assert.equal((await wsSession({ port: front, source: "127.0.0.9" })).status, 403);
        await vncws.waitFor(/refused client=127\.0\.0\.9:\d+ kind=ip_denied/);
        // A native VNC viewer through HAProxy: the banner, relayed raw, as 127.0.0.8.
        assert.match(await rawSession({ port: front, source: "127.0.0.8" }), /^RFB 003\.008\n/);
        await vncws.waitFor(/raw session end client=127\.0\.0\.8:\d+ /);
        // A direct client that is not a listed peer cannot name itself someone else.
        const forged = "PROXY TCP4 127.0.0.8 127.0.0.1 40000 6080\r\n" + upgrade();
        const f = await talk({ port: direct, source: "127.0.0.5" }, forged, () => false);
        assert.deepEqual(f, { text: "", closed: true }, "closed without an answer");
        await vncws.waitFor(
          /refused client=127\.0\.0\.5:\d+ kind=bad_request .*not in --accept-proxy-protocol/,
        );
        // A listed peer (127.0.0.1, directly) that sends no header is closed with a log line.
        const none = await talk({ port: direct, source: "127.0.0.1" }, upgrade(), () => false);
        assert.deepEqual(none, { text: "", closed: true });
        await vncws.waitFor(/refused client=127\.0\.0\.1:\d+ kind=proxy_header/);
        // Both counted as refusals closed without an answer; the denied one answered 403.
        const text = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
        assert.match(text, /vncws_handshake_failures_total\{status="closed"\} 2\n/);
        assert.match(text, /vncws_handshake_failures_total\{status="403"\} 1\n/);
      });
    },
  });
}

Deno.test({
  name: "HAProxy send-proxy-v2 in front of --ssl-only: TLS after the header, the client named " +
    "(and passed on by --proxy-protocol)",
  ignore: NO_HAPROXY,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const certs = await makeCerts();
    const args = [
      ...sslOnlyArgs(certs),
      "--accept-proxy-protocol",
      "127.0.0.1",
      "--deny-ip",
      "127.0.0.9",
      "--proxy-protocol",
      "v1",
    ];
    try {
      await withStack(haproxy("send-proxy-v2"), args, async (front, _direct, vncws) => {
        const ok = await wsSession({ port: front, source: "127.0.0.8", tls: true });
        assert.deepEqual(ok, { status: 101, banner: true });
        await vncws.waitFor(/session end client=127\.0\.0\.8:\d+ /);
        // The header vncws sends the (echoing) target names the same client and address.
        const line = /PROXY TCP4 [^\r]*\r\n/;
        const echoed = await talk(
          { port: front, source: "127.0.0.8", tls: true },
          upgrade(),
          (t) => line.test(t),
        );
        assert.match(
          line.exec(echoed.text)![0],
          new RegExp(`^PROXY TCP4 127\\.0\\.0\\.8 127\\.0\\.0\\.1 \\d+ ${front}\\r\\n$`),
        );
        assert.equal(
          (await wsSession({ port: front, source: "127.0.0.9", tls: true })).status,
          403,
        );
        await vncws.waitFor(/refused client=127\.0\.0\.9:\d+ kind=ip_denied/);
        // Plain HTTP through HAProxy is still refused by --ssl-only, logged with its client.
        const plain = await talk({ port: front, source: "127.0.0.8" }, upgrade(), () => false);
        assert.equal(plain.text, "");
        await vncws.waitFor(/plain connection refused client=127\.0\.0\.8:\d+/);
      });
    } finally {
      Deno.removeSync(certs.dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "HAProxy send-proxy-v2 to --unix-listen with --accept-proxy-protocol unix",
  ignore: NO_HAPROXY,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    using dir = tempDir();
    const sock = `${dir.path}/vncws.sock`;
    const args = ["--accept-proxy-protocol", "unix"];
    await withStack(haproxy("send-proxy-v2"), args, async (front, _direct, vncws) => {
      assert.deepEqual(await wsSession({ port: front, source: "127.0.0.8" }), {
        status: 101,
        banner: true,
      });
      await vncws.waitFor(/session end client=127\.0\.0\.8:\d+ /);
      // A local unix client without a header: the unix entry lists it, so it is refused.
      const none = await talk({ path: sock }, upgrade(), () => false);
      assert.deepEqual(none, { text: "", closed: true });
      await vncws.waitFor(/refused client=unix kind=proxy_header/);
    }, { unix: sock });
  },
});
