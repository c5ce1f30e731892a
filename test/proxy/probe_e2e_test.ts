/**
 * The route probe against the real vncws process, with fetch as the page
 * would send it and npm ws / a raw upgrade as the sessions: the JSON answer
 * for an admitted route and for each refusal (unknown token, Origin, rate,
 * ban), a probe's failure counting toward a ban like an upgrade's, no slot
 * held by a probe, and a GET without the header unchanged. The library's
 * `serve` says `viewOnly` for a view-only policy.
 */
import assert from "node:assert/strict";
import net from "node:net";
import WebSocket from "ws";
import { startEchoTarget } from "../../scripts/testing/targets.ts";
import { freePort, startVncws, tempDir, until } from "../../scripts/testing/util.ts";
import { upgradeRequest } from "../../scripts/testing/ws_client.ts";
import { serve } from "../../mod.ts";

/** vncws with TokenFile (`good` → an echo target) and `args`; `fn` gets its port. */
async function withTokens(args: string[], fn: (port: number) => Promise<void>): Promise<void> {
  const target = startEchoTarget();
  using dir = tempDir();
  const tokens = `${dir.path}/tokens`;
  Deno.writeTextFileSync(tokens, `good: 127.0.0.1:${target.port}\n`);
  const port = freePort();
  const tokenFile = ["--token-plugin", "TokenFile", "--token-source", tokens];
  const vncws = await startVncws([...tokenFile, ...args, `127.0.0.1:${port}`]);
  try {
    await fn(port);
  } finally {
    await vncws.stop();
    await target.close();
  }
}

interface Answer {
  status: number;
  headers: Headers;
  json?: Record<string, unknown>;
  text?: string;
}

/** A probe (or, with `probe` false, the same GET without the header) as a page sends it. */
async function probe(
  port: number,
  token: string,
  headers: Record<string, string> = {},
  probe = true,
): Promise<Answer> {
  const res = await fetch(`http://127.0.0.1:${port}/websockify?token=${token}`, {
    headers: probe ? { "X-Vncws-Probe": "1", ...headers } : headers,
  });
  const text = await res.text();
  const json = res.headers.get("content-type")?.startsWith("application/json")
    ? JSON.parse(text)
    : undefined;
  return { status: res.status, headers: res.headers, json, text: json ? undefined : text };
}

/** A WebSocket upgrade over a raw socket; resolves the status it got. */
function upgradeStatus(port: number, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let got = "";
    socket.on("connect", () => socket.write(upgradeRequest(port, { path: `/?token=${token}` })));
    socket.on("data", (b: Uint8Array) => {
      got += new TextDecoder().decode(b);
      if (got.includes("\r\n\r\n")) {
        socket.destroy();
        resolve(Number(got.slice(9, 12)));
      }
    });
    socket.on("error", reject);
  });
}

Deno.test("e2e probe: a known token is {ok:true}, an unknown one 404 in JSON; without the header a plain GET", async () => {
  await withTokens([], async (port) => {
    const ok = await probe(port, "good");
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json, { ok: true });
    assert.equal(ok.headers.get("cache-control"), "no-store");
    const unknown = await probe(port, "nope");
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.json, {
      ok: false,
      status: 404,
      reason: "unknown or expired token",
    });
    // No header: the web side answers as before (no such file in the bundled viewer).
    const plain = await probe(port, "good", {}, false);
    assert.equal(plain.status, 404);
    assert.equal(plain.json, undefined);
    assert.match(plain.text ?? "", /^404 Not Found: not found/);
  });
});

Deno.test("e2e probe: an Origin the upgrade would refuse is 403 in JSON; a listed one is admitted", async () => {
  await withTokens(["--allow-origin", "https://portal.example"], async (port) => {
    const evil = await probe(port, "good", { Origin: "https://evil.example" });
    assert.equal(evil.status, 403);
    assert.deepEqual(evil.json, { ok: false, status: 403, reason: "Origin not allowed" });
    const portal = await probe(port, "good", { Origin: "https://portal.example" });
    assert.equal(portal.status, 200);
    assert.deepEqual(portal.json, { ok: true });
  });
});

Deno.test("e2e probe: probes spend the handshake rate: over it, 429 with Retry-After in JSON", async () => {
  // One attempt, refilled once in 100 s: the second is over the rate however slow the machine.
  await withTokens(["--handshake-rate", "0.01"], async (port) => {
    assert.equal((await probe(port, "good")).status, 200);
    const over = await probe(port, "good");
    assert.equal(over.status, 429);
    assert.equal(over.headers.get("retry-after"), "1");
    assert.equal(over.json?.ok, false);
    assert.equal(over.json?.status, 429);
    // The upgrade shares the bucket: it is over the rate too.
    assert.equal(await upgradeStatus(port, "good"), 429);
  });
});

Deno.test("e2e probe: failed probes count toward a ban like failed upgrades; admitted ones do not", async () => {
  await withTokens(["--ban-after", "3", "--ban-time", "60"], async (port) => {
    for (let i = 0; i < 4; i++) assert.equal((await probe(port, "good")).status, 200);
    assert.equal((await probe(port, "nope")).status, 404);
    assert.equal(await upgradeStatus(port, "nope"), 404);
    assert.equal((await probe(port, "nope")).status, 404);
    // Three failures, probes and an upgrade together: banned, even with the good token.
    const banned = await probe(port, "good");
    assert.equal(banned.status, 429);
    assert.ok(Number(banned.headers.get("retry-after")) > 0);
    assert.equal(banned.json?.ok, false);
    assert.equal(banned.json?.status, 429);
    assert.equal(await upgradeStatus(port, "good"), 429);
  });
});

Deno.test("e2e probe: it holds no slot (--max-per-token 1), and is refused while a session holds it", async () => {
  await withTokens(["--max-per-token", "1"], async (port) => {
    assert.deepEqual((await probe(port, "good")).json, { ok: true });
    // The probe left the slot free: a session takes it.
    const ws = new WebSocket(`ws://127.0.0.1:${port}/websockify?token=good`, ["binary"]);
    await new Promise<void>((resolve, reject) => {
      ws.on("open", () => resolve());
      ws.on("error", reject);
    });
    const held = await probe(port, "good");
    assert.equal(held.status, 429);
    assert.equal(held.json?.ok, false);
    ws.close();
    // Once the session ended, the slot is free again.
    await until(async () => (await probe(port, "good")).json?.ok === true || undefined, "slot");
  });
});

Deno.test("e2e probe: the library's serve answers viewOnly for a view-only policy", async () => {
  const target = startEchoTarget();
  const port = freePort();
  const server = await serve({
    config: {
      listen: { hostname: "127.0.0.1", port },
      target: { kind: "tcp", hostname: "127.0.0.1", port: target.port },
      rfbPolicy: { viewOnly: true, clipboard: "both" },
    },
  });
  try {
    const answer = await probe(port, "any");
    assert.deepEqual(answer.json, { ok: true, viewOnly: true });
  } finally {
    await server.close();
    await target.close();
  }
  const plain = await serve({
    config: {
      listen: { hostname: "127.0.0.1", port },
      target: { kind: "tcp", hostname: "127.0.0.1", port: 1 },
    },
  });
  try {
    assert.deepEqual((await probe(port, "any")).json, { ok: true });
  } finally {
    await plain.close();
  }
});
