import assert from "node:assert/strict";
import { banKey, BanList, type BanStore } from "../../src/auth/bans.ts";
import { refusal } from "../../src/auth/refusal.ts";

const wrongPassword = refusal("auth", 401, "wrong user name or password");
const unknownToken = refusal("unknown_token", 404, "unknown or expired token");

/** A ban list on a clock the test moves. */
function list(options: { after?: number; window?: number; time?: number; maxTracked?: number }) {
  let now = 1_000_000;
  const active: number[] = [];
  const failures: string[] = [];
  const bans = new BanList({
    after: options.after ?? 3,
    window: options.window ?? 60,
    time: options.time ?? 300,
    maxTracked: options.maxTracked,
    now: () => now,
    onActive: (n) => active.push(n),
    onFailure: (kind) => failures.push(kind),
  });
  return { bans, active, failures, advance: (s: number) => (now += s * 1000) };
}

Deno.test("bans: the Nth failure within the window starts a ban; N-1 do not", async () => {
  const { bans, active, failures } = list({ after: 3 });
  bans.failed("198.51.100.7", wrongPassword);
  bans.failed("198.51.100.7", unknownToken);
  assert.equal(bans.check("198.51.100.7"), null);
  bans.failed("198.51.100.7", wrongPassword);
  const r = bans.check("198.51.100.7");
  assert.equal(r?.kind, "banned");
  assert.equal(r?.status, 429);
  assert.equal(r?.headers?.["Retry-After"], "300");
  assert.equal(bans.check("198.51.100.8"), null, "another address is not affected");
  assert.deepEqual(active, [1]);
  assert.deepEqual(failures, ["auth", "unknown_token", "auth"]);
  await bans.close();
});

Deno.test("bans: failures older than the window do not count", async () => {
  const { bans, advance } = list({ after: 2, window: 10 });
  bans.failed("192.0.2.1", wrongPassword);
  advance(11);
  bans.failed("192.0.2.1", wrongPassword);
  assert.equal(bans.check("192.0.2.1"), null);
  advance(5);
  bans.failed("192.0.2.1", wrongPassword);
  assert.equal(bans.check("192.0.2.1")?.kind, "banned");
  await bans.close();
});

Deno.test("bans: a ban ends after the ban time; Retry-After counts down", async () => {
  const { bans, active, advance } = list({ after: 1, time: 30 });
  bans.failed("192.0.2.2", unknownToken);
  advance(20);
  assert.equal(bans.check("192.0.2.2")?.headers?.["Retry-After"], "10");
  advance(10);
  assert.equal(bans.check("192.0.2.2"), null);
  assert.deepEqual(active, [1, 0]);
  assert.equal(bans.active, 0);
  await bans.close();
});

Deno.test("bans: load and server-side refusals are not failures", async () => {
  const { bans, failures } = list({ after: 1 });
  for (
    const r of [
      refusal("rate", 429, "slow"),
      refusal("limit", 429, "too many"),
      refusal("backend_down", 503, "down"),
      refusal("connect_failed", 502, "no"),
      refusal("auth_required", 401, "authentication required"),
      refusal("tls_failed", 400, "the client closed the connection during the handshake"),
      refusal("tls_failed", 400, "no client certificate (--verify-client requires one)"),
      // Any page can make its visitors' browsers send a foreign Origin.
      refusal("origin", 403, "cross-origin request refused"),
    ]
  ) bans.failed("192.0.2.3", r);
  assert.equal(bans.check("192.0.2.3"), null);
  assert.deepEqual(failures, []);
  bans.failed("192.0.2.3", refusal("client_cert", 400, "client certificate CN=x not trusted"));
  assert.equal(bans.check("192.0.2.3")?.kind, "banned");
  await bans.close();
});

Deno.test("bans: memory is bounded; the oldest address is forgotten first", async () => {
  const { bans } = list({ after: 2, maxTracked: 2 });
  bans.failed("10.0.0.1", wrongPassword);
  bans.failed("10.0.0.2", wrongPassword);
  bans.failed("10.0.0.3", wrongPassword); // drops 10.0.0.1
  assert.equal(bans.tracked, 2);
  bans.failed("10.0.0.1", wrongPassword);
  assert.equal(bans.check("10.0.0.1"), null, "its first failure was forgotten");
  bans.failed("10.0.0.3", wrongPassword);
  assert.equal(bans.check("10.0.0.3")?.kind, "banned");
  for (let i = 0; i < 1000; i++) bans.failed(`10.1.${i >> 8}.${i & 255}`, wrongPassword);
  assert.equal(bans.tracked, 2);
  await bans.close();
});

Deno.test("bans: a store shares counts and bans between replicas", async () => {
  const published: Array<[string, number]> = [];
  let deliver: (address: string, seconds: number) => void = () => {};
  const store: BanStore = {
    // Other replicas already saw 4 failures of this address.
    failure: () => Promise.resolve(5),
    ban: (address, seconds) => (published.push([address, seconds]), Promise.resolve()),
    subscribe: (onBan) => ((deliver = onBan), Promise.resolve()),
    close: () => Promise.resolve(),
  };
  const bans = new BanList({ after: 5, window: 60, time: 120, store });
  await bans.start();
  bans.failed("203.0.113.5", wrongPassword);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(bans.check("203.0.113.5")?.kind, "banned", "fleet-wide count reached");
  assert.deepEqual(published, [["203.0.113.5", 120]]);
  deliver("203.0.113.6", 60);
  assert.equal(bans.check("203.0.113.6")?.headers?.["Retry-After"], "60");
  await bans.close();
});

Deno.test("bans: IPv6 clients are counted and banned by their /64", async () => {
  const { bans } = list({ after: 2 });
  bans.failed("2001:db8:1:2::a", wrongPassword);
  bans.failed("2001:db8:1:2:ffff::b", unknownToken);
  assert.equal(bans.check("2001:db8:1:2::c")?.kind, "banned", "another address of the /64");
  assert.equal(bans.check("2001:db8:1:3::a"), null, "the next /64 is not banned");
  assert.equal(banKey("2001:db8:1:2::a"), "2001:db8:1:2::/64");
  assert.equal(banKey("192.0.2.1"), "192.0.2.1");
  await bans.close();
});
