import assert from "node:assert/strict";
import { isRefusal, type Refusal } from "../../src/auth/refusal.ts";
import type { Target } from "../../src/net/address.ts";
import {
  createTargetPolicy,
  type HostResolver,
  lookupAll,
  parseTargetRule,
  parseTargetRules,
  type TargetPolicyOptions,
} from "../../src/route/target_policy.ts";

const tcp = (hostname: string, port: number): Target => ({ kind: "tcp", hostname, port });
const unix = (path: string): Target => ({ kind: "unix", path });

/** A resolver that knows a fixed table and records every name it was asked. */
function fakeDns(table: Record<string, string[]>): HostResolver & { asked: string[] } {
  const asked: string[] = [];
  const resolve = (host: string) => {
    asked.push(host);
    const found = table[host.toLowerCase()]; // DNS names are case-insensitive
    return found
      ? Promise.resolve(found)
      : Promise.reject(new Error(`getaddrinfo ENOTFOUND ${host}`));
  };
  return Object.assign(resolve, { asked });
}

const dns = {
  "vnc.example.com": ["10.20.0.5"],
  "two.example.com": ["10.20.0.5", "10.20.0.6"],
  "rebind.example.com": ["10.0.0.5", "169.254.169.254"],
  "v6.example.com": ["fd00::7"],
  "meta.example.com": ["169.254.169.254"],
  "mapped.example.com": ["::ffff:169.254.169.254"],
  "host.example.org": ["192.0.2.1"],
};

function policy(options: TargetPolicyOptions = {}) {
  const resolve = fakeDns(dns);
  return { p: createTargetPolicy({ resolve, ...options }), asked: resolve.asked };
}

/** "ok" when allowed, else the refusal's kind. */
async function verdict(
  options: TargetPolicyOptions,
  target: Target,
): Promise<string> {
  const r = await policy(options).p.check(target, "abc123");
  return isRefusal(r) ? r.kind : "ok";
}

Deno.test("rule syntax: blocks with ports and ranges, IPv6 in brackets or bare, names, unix", () => {
  const c = parseTargetRule("10.20.0.0/16:5900-5999");
  assert.equal(c.kind, "cidr");
  assert.deepEqual(c.kind === "cidr" && c.ports, { low: 5900, high: 5999 });
  const one = parseTargetRule("10.0.0.1:5900");
  assert.deepEqual(one.kind === "cidr" && [one.cidr.prefix, one.ports], [32, {
    low: 5900,
    high: 5900,
  }]);
  const v6 = parseTargetRule("[fd00::/8]:5900-5999");
  assert.deepEqual(v6.kind === "cidr" && [v6.cidr.prefix, v6.ports], [8, {
    low: 5900,
    high: 5999,
  }]);
  const bare = parseTargetRule("fd00::/8");
  assert.deepEqual(bare.kind === "cidr" && [bare.cidr.prefix, bare.ports], [8, undefined]);
  const name = parseTargetRule("VNC.Example.com.:5901");
  assert.deepEqual(name.kind === "name" && [name.name, name.wildcard], ["vnc.example.com", false]);
  const wild = parseTargetRule("*.example.com");
  assert.deepEqual(wild.kind === "name" && [wild.name, wild.wildcard], [".example.com", true]);
  const u = parseTargetRule("unix:/run/vnc/*");
  assert.equal(u.kind, "unix");
  assert.deepEqual(
    parseTargetRules(["10.0.0.0/8,192.168.0.0/16", " localhost "], "--allow-target").map((r) =>
      r.kind
    ),
    ["cidr", "cidr", "name"],
  );
});

Deno.test("rule syntax: bad rules are refused with the forms that work", () => {
  for (
    const bad of [
      "10.0.0.0/33",
      "10.0.0.0/8:0",
      "10.0.0.0/8:5999-5900",
      "10.0.0.0/8:70000",
      "10.0.0.0/8:vnc",
      "[fd00::/8",
      "[fd00::/8]5900",
      "*",
      "*:5900",
      "exa mple.com",
      "bad_host!",
      "10.0.0",
      "unix:run/vnc/*",
      "",
      ":5900",
    ]
  ) {
    assert.throws(() => parseTargetRule(bad), /CIDR\[:PORT\|:LOW-HIGH\]/, bad);
  }
  assert.throws(
    () => parseTargetRules(["10.0.0.0/8", "nope!"], "--deny-target"),
    /^Error: --deny-target "nope!" is not a target rule/,
  );
});

Deno.test("ports and ranges: inside passes, outside is refused", async () => {
  const allow = ["10.20.0.0/16:5900-5999"];
  assert.equal(await verdict({ allow }, tcp("10.20.1.2", 5900)), "ok");
  assert.equal(await verdict({ allow }, tcp("10.20.1.2", 5999)), "ok");
  assert.equal(await verdict({ allow }, tcp("10.20.1.2", 6000)), "target_denied");
  assert.equal(await verdict({ allow }, tcp("10.20.1.2", 22)), "target_denied");
  assert.equal(await verdict({ allow }, tcp("10.21.0.1", 5900)), "target_denied");
});

Deno.test("IPv6 blocks: bracketed with a port, bare without", async () => {
  assert.equal(await verdict({ allow: ["[fd00::/8]:5900"] }, tcp("fd00::7", 5900)), "ok");
  assert.equal(
    await verdict({ allow: ["[fd00::/8]:5900"] }, tcp("fd00::7", 5901)),
    "target_denied",
  );
  assert.equal(await verdict({ allow: ["fd00::/8"] }, tcp("fd00::7", 1)), "ok");
  assert.equal(await verdict({ allow: ["fd00::/8"] }, tcp("2001:db8::1", 5900)), "target_denied");
  // An IPv4 block never covers an IPv6 address.
  assert.equal(await verdict({ allow: ["0.0.0.0/0"] }, tcp("fd00::7", 5900)), "target_denied");
});

Deno.test("names: exact or *.suffix, case-insensitive; other names are refused", async () => {
  assert.equal(await verdict({ allow: ["vnc.example.com"] }, tcp("VNC.example.COM", 1)), "ok");
  assert.equal(
    await verdict({ allow: ["vnc.example.com"] }, tcp("two.example.com", 1)),
    "target_denied",
  );
  assert.equal(await verdict({ allow: ["*.example.com"] }, tcp("two.example.com", 1)), "ok");
  assert.equal(await verdict({ allow: ["*.example.com"] }, tcp("example.com", 1)), "target_denied");
  assert.equal(
    await verdict({ allow: ["*.example.com"] }, tcp("host.example.org", 1)),
    "target_denied",
  );
  assert.equal(
    await verdict({ allow: ["vnc.example.com:5900"] }, tcp("vnc.example.com", 5900)),
    "ok",
  );
  assert.equal(
    await verdict({ allow: ["vnc.example.com:5900"] }, tcp("vnc.example.com", 80)),
    "target_denied",
  );
  // Only names are allowed and this is none of them: refused without a DNS query.
  const names = policy({ allow: ["*.example.com"] });
  assert.ok(isRefusal(await names.p.check(tcp("evil.example.net", 1))));
  assert.deepEqual(names.asked, []);
  // A name rule never matches an IP literal, whatever the name resolves to.
  assert.equal(await verdict({ allow: ["vnc.example.com"] }, tcp("10.20.0.5", 1)), "target_denied");
  assert.equal(
    await verdict({ deny: ["*.example.com"] }, tcp("vnc.example.com", 1)),
    "target_denied",
  );
  assert.equal(await verdict({ deny: ["*.example.com"] }, tcp("10.20.0.5", 1)), "ok");
});

Deno.test("deny wins over allow, for blocks and for names", async () => {
  const allow = ["10.0.0.0/8"];
  assert.equal(
    await verdict({ allow, deny: ["10.20.0.0/16"] }, tcp("10.20.0.5", 5900)),
    "target_denied",
  );
  assert.equal(await verdict({ allow, deny: ["10.20.0.0/16"] }, tcp("10.30.0.5", 5900)), "ok");
  assert.equal(
    await verdict({ allow, deny: ["10.0.0.0/8:22"] }, tcp("10.30.0.5", 22)),
    "target_denied",
  );
  assert.equal(
    await verdict({ allow: ["*.example.com"], deny: ["10.20.0.0/16"] }, tcp("vnc.example.com", 1)),
    "target_denied",
  );
  assert.equal(
    await verdict({ allow: ["10.0.0.0/8"], deny: ["vnc.example.com"] }, tcp("vnc.example.com", 1)),
    "target_denied",
  );
  // No allow list: everything not denied (and not link-local) passes.
  assert.equal(await verdict({ deny: ["10.20.0.0/16"] }, tcp("192.0.2.1", 5900)), "ok");
});

Deno.test("default: link-local and metadata addresses are refused unless a block inside them allows them", async () => {
  const guarded = [
    "169.254.169.254",
    "169.254.1.1",
    "fe80::1",
    "fd00:ec2::254",
    "64:ff9b::a9fe:a9fe", // 169.254.169.254 through NAT64
    "100.100.100.200", // Alibaba's metadata service
    "0.0.0.0", // "this host": Linux connects it to loopback
    "0.1.2.3",
    "::",
  ];
  for (const host of guarded) {
    assert.equal(await verdict({}, tcp(host, 80)), "target_denied", host);
    // A broad allow does not unlock them: the block must name them.
    assert.equal(await verdict({ allow: ["0.0.0.0/0", "::/0"] }, tcp(host, 80)), "target_denied");
  }
  assert.equal(await verdict({}, tcp("fd00:ec2::253", 80)), "ok");
  assert.equal(await verdict({}, tcp("meta.example.com", 80)), "target_denied");
  assert.equal(await verdict({}, tcp("mapped.example.com", 80)), "target_denied");
  assert.equal(await verdict({ allow: ["169.254.0.0/16"] }, tcp("169.254.169.254", 80)), "ok");
  assert.equal(await verdict({ allow: ["169.254.169.254:80"] }, tcp("169.254.169.254", 80)), "ok");
  assert.equal(
    await verdict({ allow: ["169.254.169.254:80"] }, tcp("169.254.169.254", 81)),
    "target_denied",
  );
  assert.equal(await verdict({ allow: ["fe80::/64"] }, tcp("fe80::1", 5900)), "ok");
  // A name rule does not unlock them either.
  assert.equal(
    await verdict({ allow: ["meta.example.com"] }, tcp("meta.example.com", 80)),
    "target_denied",
  );
  // Deny still wins over an allow that names them.
  assert.equal(
    await verdict(
      { allow: ["169.254.0.0/16"], deny: ["169.254.169.254"] },
      tcp("169.254.169.254", 80),
    ),
    "target_denied",
  );
});

Deno.test("every resolved address is checked: one bad address refuses the name", async () => {
  const { p } = policy({ allow: ["10.0.0.0/8"] });
  const r = await p.check(tcp("rebind.example.com", 5900), "abc123") as Refusal;
  assert.ok(isRefusal(r));
  assert.deepEqual([r.kind, r.status, r.reason], ["target_denied", 403, "target not allowed"]);
  // The client learns nothing; the log line names the token hash, the target and the address.
  assert.doesNotMatch(r.reason, /169|10\.0|rebind/);
  assert.deepEqual(r.log, {
    token: "abc123",
    target: "rebind.example.com:5900",
    address: "169.254.169.254:5900",
  });
  assert.match(r.detail!, /169\.254\.169\.254 is a link-local or cloud metadata address/);
  // Without any rule the default alone refuses it too.
  assert.equal(await verdict({}, tcp("rebind.example.com", 5900)), "target_denied");
  const partly = await policy({ allow: ["10.20.0.5"] }).p.check(tcp("two.example.com", 1));
  assert.ok(isRefusal(partly));
  assert.equal(partly.log?.address, "10.20.0.6:1");
});

Deno.test("an allowed name connects to exactly the checked addresses, keeping its name", async () => {
  const { p, asked } = policy({ allow: ["10.20.0.0/16"] });
  const r = await p.check({ kind: "tcp", hostname: "two.example.com", port: 5900, tls: true });
  assert.deepEqual(r, {
    kind: "tcp",
    hostname: "10.20.0.5",
    alternates: ["10.20.0.6"],
    port: 5900,
    tls: true,
    name: "two.example.com",
  });
  assert.deepEqual(asked, ["two.example.com"], "resolved once");
  // An IP literal is not resolved and comes back as it was.
  const lit = policy({ allow: ["10.20.0.0/16"] });
  assert.deepEqual(await lit.p.check(tcp("10.20.0.5", 5900)), tcp("10.20.0.5", 5900));
  assert.deepEqual(lit.asked, []);
  const v6 = await policy({}).p.check(tcp("v6.example.com", 5900));
  assert.deepEqual(v6, { kind: "tcp", hostname: "fd00::7", port: 5900, name: "v6.example.com" });
});

Deno.test("a name that does not resolve is a 502 like a failed connect, not a 403", async () => {
  const r = await policy({}).p.check(tcp("nowhere.example.com", 5900), "abc123");
  assert.ok(isRefusal(r));
  assert.deepEqual([r.kind, r.status], ["connect_failed", 502]);
  assert.match(r.reason, /cannot resolve nowhere\.example\.com: getaddrinfo ENOTFOUND/);
  const empty = await createTargetPolicy({ resolve: () => Promise.resolve([]) }).check(
    tcp("void.example.com", 1),
  );
  assert.ok(isRefusal(empty) && empty.status === 502);
  const slow = await createTargetPolicy({
    resolve: () => new Promise(() => {}),
    timeoutMs: 20,
  }).check(tcp("slow.example.com", 1));
  assert.ok(isRefusal(slow) && /timed out/.test(slow.reason));
});

Deno.test("unix targets: globs under a directory, .. normalised away, deny over allow", async () => {
  const allow = ["unix:/run/vnc/*"];
  assert.deepEqual(
    await policy({ allow }).p.check(unix("/run/vnc/a.sock")),
    unix("/run/vnc/a.sock"),
  );
  assert.equal(await verdict({ allow }, unix("/run/vnc/../../etc/x.sock")), "target_denied");
  // The target comes back normalised: what was checked is what is connected.
  assert.deepEqual(
    await policy({ allow }).p.check(unix("/run/vnc/sub/../b.sock")),
    unix("/run/vnc/b.sock"),
  );
  // `*` stays within one directory.
  assert.equal(await verdict({ allow }, unix("/run/vnc/sub/a.sock")), "target_denied");
  assert.equal(await verdict({ allow }, unix("/run/vncx/a.sock")), "target_denied");
  assert.equal(
    await verdict({ allow: ["unix:/run/vnc-*/socket"] }, unix("/run/vnc-7/socket")),
    "ok",
  );
  assert.equal(
    await verdict({ allow, deny: ["unix:/run/vnc/secret*"] }, unix("/run/vnc/secret.sock")),
    "target_denied",
  );
  // An allow list of TCP rules only refuses unix targets; no list leaves them alone.
  assert.equal(await verdict({ allow: ["10.0.0.0/8"] }, unix("/run/vnc/a.sock")), "target_denied");
  assert.equal(await verdict({}, unix("/run/vnc/a.sock")), "ok");
  // And a unix rule says nothing about TCP targets.
  assert.equal(await verdict({ allow }, tcp("10.0.0.1", 5900)), "target_denied");
});

Deno.test("the system resolver reads /etc/hosts (localhost) and fails on a name that does not exist", async () => {
  assert.ok((await lookupAll("localhost")).some((a) => a === "127.0.0.1" || a === "::1"));
  await assert.rejects(() => lookupAll("no-such-host.invalid"));
});
