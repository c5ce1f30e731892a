/**
 * `--accept-proxy-protocol` in the connection pipeline (in memory): a listed
 * balancer's header makes its client the peer for routing, bans, sessions
 * and the outbound header; LOCAL leaves the balancer; a listed peer without
 * a valid header is closed and logged; a header from any other peer is
 * refused as bad input.
 */
import assert from "node:assert/strict";
import { type ClientInfo, peerIp } from "../../src/auth/client.ts";
import type { Refusal } from "../../src/auth/refusal.ts";
import { configureLog } from "../../src/base/log.ts";
import { defaultConfig } from "../../src/config/config.ts";
import { memoryPair } from "../../src/net/memory_stream.ts";
import { proxyHeader } from "../../src/net/proxy_protocol.ts";
import { handleConnection } from "../../src/proxy/connection.ts";
import type { Access } from "../../src/proxy/context.ts";
import { ProxyHeaderPeers } from "../../src/proxy/proxy_header.ts";
import { context, logged, route, run, UPGRADE } from "./_pipeline.ts";

// Debug lines too (the balancer is named at debug level); _pipeline's sink keeps them.
configureLog({ verbose: 1 });

const LB = "10.0.0.2:40000";
const V1 = "PROXY TCP4 192.0.2.7 10.0.0.1 51000 6080\r\n";
const limits = (more: Partial<ReturnType<typeof defaultConfig>["limits"]>) => ({
  ...defaultConfig().limits,
  ...more,
});

/** Access that records the clients it was asked about; addresses are the peers' IPs. */
function recordingAccess(rawAllowed = false) {
  const clients: string[] = [];
  const access: Access = {
    route: (_head, client: ClientInfo) => (clients.push(client.peer), Promise.resolve(route())),
    rawAllowed,
    routeRaw: (client) => (clients.push(client.peer), route()),
    clientAddress: (client) => peerIp(client.peer),
  };
  return { clients, access };
}

/** A guard that records checks and failures. */
function recordingGuard() {
  const checked: string[] = [];
  const failures: Array<[string, string]> = [];
  return {
    checked,
    failures,
    guard: {
      check: (address: string) => (checked.push(address), null),
      failed: (address: string, r: Refusal) => void failures.push([address, r.kind]),
    },
  };
}

Deno.test("peers: CIDR blocks and bare addresses, IPv4-mapped, and unix only when listed", () => {
  const peers = new ProxyHeaderPeers(["10.0.0.0/24,2001:db8::/32", "192.0.2.1"]);
  assert.equal(peers.has("10.0.0.2:40000"), true);
  assert.equal(peers.has("10.0.1.2:40000"), false);
  assert.equal(peers.has("[2001:db8::5]:1"), true);
  assert.equal(peers.has("[::ffff:192.0.2.1]:1"), true);
  assert.equal(peers.has("192.0.2.2:1"), false);
  assert.equal(peers.has("unix"), false, "unix peers only with the unix entry");
  const unix = new ProxyHeaderPeers(["unix"]);
  assert.equal(unix.has("unix"), true);
  assert.equal(unix.has("127.0.0.1:1"), false);
  assert.equal(new ProxyHeaderPeers([]).empty, true);
  assert.throws(() => new ProxyHeaderPeers(["10.0.0.0/33"]), /or "unix" for unix-socket peers/);
  assert.throws(() => new ProxyHeaderPeers(["lb.example"]), /not an IP address/);
});

Deno.test("listed peer: the header's client is routed, checked for bans and opens the session", async () => {
  const { clients, access } = recordingAccess();
  const g = recordingGuard();
  const { ctx, refused, starts } = context({
    access,
    guard: g.guard,
    config: { acceptProxyProtocol: ["10.0.0.0/24"] },
  });
  // The target fails (no connector here): the session is refused after routing.
  assert.match(await run(ctx, V1 + UPGRADE, LB), /^HTTP\/1\.1 502 /);
  assert.deepEqual(clients, ["192.0.2.7:51000"]);
  assert.deepEqual(g.checked, ["192.0.2.7", "192.0.2.7"], "before and after the head");
  assert.deepEqual(refused.map((r) => r.kind), ["connect_failed"]);
  assert.deepEqual(starts, []);
  assert.ok(
    logged.some((l) => /PROXY header .*client=192\.0\.2\.7:51000 .*via=10\.0\.0\.2:40000/.test(l)),
    "the balancer is named at debug level",
  );
});

Deno.test("listed peer: a v2 header works the same, and its failures count against the client", async () => {
  const { clients, access } = recordingAccess();
  const g = recordingGuard();
  const { ctx } = context({
    access: { ...access, route: (h, c) => (access.route(h, c), Promise.resolve(bad)) },
    guard: g.guard,
    config: { acceptProxyProtocol: ["10.0.0.0/24"] },
  });
  const bad: Refusal = { kind: "unknown_token", status: 404, reason: "unknown token" };
  const v2 = proxyHeader(2, { ip: "2001:db8::7", port: 5 }, { ip: "2001:db8::1", port: 6080 });
  const bytes = new Uint8Array([...v2, ...new TextEncoder().encode(UPGRADE)]);
  assert.match(await run(ctx, bytes, LB), /^HTTP\/1\.1 404 /);
  assert.deepEqual(clients, ["[2001:db8::7]:5"]);
  assert.deepEqual(g.failures, [["2001:db8::7", "unknown_token"]]);
});

Deno.test("listed peer: LOCAL (a health check) is served as the balancer's own connection", async () => {
  const { clients, access } = recordingAccess();
  const { ctx, refused } = context({ access, config: { acceptProxyProtocol: ["10.0.0.2"] } });
  const local = proxyHeader(2);
  const bytes = new Uint8Array([...local, ...new TextEncoder().encode(UPGRADE)]);
  assert.match(await run(ctx, bytes, LB), /^HTTP\/1\.1 502 /);
  assert.deepEqual(clients, [LB]);
  // LOCAL and then the balancer leaves: closed quietly, not a refusal.
  assert.equal(await run(ctx, local, LB, true), "");
  assert.deepEqual(refused.map((r) => r.kind), ["connect_failed"]);
});

Deno.test("listed peer without a valid header: closed, logged, counted; never routed or banned", async () => {
  const { clients, access } = recordingAccess(true);
  const g = recordingGuard();
  const { ctx, refused } = context({
    access,
    guard: g.guard,
    config: {
      acceptProxyProtocol: ["10.0.0.0/24"],
      limits: limits({ headTimeout: 0.1, rawWait: 0.05 }),
    },
  });
  // A client's bytes where the header should be, a broken header, silence.
  assert.equal(await run(ctx, UPGRADE, LB), "");
  assert.equal(await run(ctx, "PROXY TCP4 192.0.2.7 10.0.0.1 x 6080\r\n" + UPGRADE, LB), "");
  const [client, server] = memoryPair({ names: ["client", LB] });
  await handleConnection(server, ctx, 1);
  client.close();
  assert.deepEqual(refused.map((r) => [r.kind, r.status]), [
    ["proxy_header", 400],
    ["proxy_header", 400],
    ["proxy_header", 400],
  ]);
  assert.deepEqual(clients, [], "a silent balancer is not relayed raw");
  assert.deepEqual([g.checked, g.failures], [[], []], "the balancer is never banned");
  assert.ok(
    logged.some((l) =>
      /refused .*client=10\.0\.0\.2:40000 .*kind=proxy_header .*no complete/.test(l)
    ),
  );
  // A balancer that connects and leaves (a plain TCP health check) is not a refusal.
  assert.equal(await run(ctx, "", LB, true), "");
  assert.equal(refused.length, 3);
  assert.ok(logged.some((l) => /closed before its PROXY header .*client=10\.0\.0\.2/.test(l)));
});

Deno.test("unlisted peer: a PROXY header is refused as bad input (v1 and v2, option on or off)", async () => {
  for (const list of [["10.0.0.0/24"], []]) {
    const { clients, access } = recordingAccess();
    const g = recordingGuard();
    const { ctx, refused } = context({
      access,
      guard: g.guard,
      config: { acceptProxyProtocol: list },
    });
    const v2 = proxyHeader(2, { ip: "192.0.2.7", port: 1 }, { ip: "10.0.0.1", port: 2 });
    assert.equal(await run(ctx, V1 + UPGRADE), "", "closed without an answer");
    assert.equal(await run(ctx, v2), "");
    assert.deepEqual(refused.map((r) => r.kind), ["bad_request", "bad_request"]);
    assert.match(refused[0].reason, /not in --accept-proxy-protocol/);
    assert.deepEqual(clients, []);
    // It counts against the sender, not the address it named.
    assert.deepEqual(g.failures, [["127.0.0.1", "bad_request"], ["127.0.0.1", "bad_request"]]);
  }
  // Its plain requests are served as ever.
  const { clients, access } = recordingAccess();
  const { ctx } = context({ access, config: { acceptProxyProtocol: ["10.0.0.0/24"] } });
  assert.match(await run(ctx, UPGRADE), /^HTTP\/1\.1 502 /);
  assert.deepEqual(clients, ["127.0.0.1:40000"]);
});

Deno.test("listed peer: a silent client behind the header is relayed raw as the header's client, and the outbound header names it", async () => {
  const { clients, access } = recordingAccess(true);
  const [toTarget, targetEnd] = memoryPair({ names: ["vncws", "127.0.0.1:5900"] });
  const { ctx, starts } = context({
    access,
    connector: { connect: () => Promise.resolve(toTarget) },
    config: {
      acceptProxyProtocol: ["10.0.0.0/24"],
      proxyProtocol: 1,
      limits: limits({ rawWait: 0.05 }),
    },
  });
  const [client, server] = memoryPair({ names: ["client", LB] });
  const done = handleConnection(server, ctx, 1);
  await client.writeAll(new TextEncoder().encode(V1));
  const buf = new Uint8Array(256);
  const n = await targetEnd.read(buf);
  assert.equal(new TextDecoder().decode(buf.subarray(0, n!)), V1, "the same client and address");
  client.close();
  targetEnd.close();
  await done;
  assert.deepEqual(clients, ["192.0.2.7:51000"]);
  assert.deepEqual(starts.map((s) => [s.kind, s.client.peer]), [["raw", "192.0.2.7:51000"]]);
});
