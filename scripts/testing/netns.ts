/**
 * A private multi-host network for system tests, made of Linux network
 * namespaces: one namespace per host, each with one veth link to a bridge
 * that lives in a namespace of its own (the "switch"). Addresses come from
 * {@linkcode NETNS_SUBNET}.0/24 and exist only inside these namespaces: the
 * root namespace gets no address, no link and no route, and no namespace has
 * an uplink or a default route, so nothing sent in the network can leave it
 * (each host also has its own loopback). The network is IPv4 only.
 *
 * Names are unique per test process and network (`vncws-<pid>-<n>-<host>`), so
 * runs side by side do not meet. {@linkcode Network.destroy} stops every
 * process started in the network by PID (and any process still found in one
 * of its namespaces), then deletes all of its namespaces; a failed
 * {@linkcode createNetwork} deletes what it made. Namespaces left by a test
 * process that was killed are removed by the next {@linkcode createNetwork}.
 *
 * Needs root and iproute2 (`ip`): {@linkcode netnsUnavailable} says why not,
 * and {@linkcode skipUnlessNetns} skips a test outside CI (under `CI=true`
 * the test runs and fails).
 * @module
 */
import { hasCommand, IN_CI, type Proc, startProcess } from "./util.ts";
import { isAlive } from "./proc.ts";

/** The first three octets of the network's /24 (10.231.0.0/24, private, unrouted here). */
export const NETNS_SUBNET = "10.231.0";
/** The address of the first host; the others follow in the order they were asked for. */
const FIRST_HOST = 10;
/** Most hosts one network may have (bounded: each is a namespace and a veth pair). */
export const MAX_HOSTS = 16;
/** Every namespace this module makes starts with this, then the test process's PID. */
const PREFIX = "vncws-";
/** Longest one `ip` command may take before the setup counts as failed. */
const IP_TIMEOUT_MS = 10_000;
/** Host names: short and plain, as they become part of namespace and link names. */
const HOST_NAME = /^[a-z][a-z0-9]{0,9}$/;

/** One host of a {@linkcode Network}. */
export interface NetHost {
  /** The name the test gave it (`lb`, `app1`…). */
  name: string;
  /** Its network namespace (for `ip netns exec`). */
  ns: string;
  /** Its address in the network. */
  ip: string;
}

/** Output of a command run to its end in a namespace. */
export interface ExecResult {
  /** Exit code. */
  code: number;
  /** Standard output as text. */
  stdout: string;
  /** Standard error as text. */
  stderr: string;
}

/** Options for {@linkcode Network.start}. */
export interface StartOptions {
  /** Environment added to the process's own. */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
  /** "piped" to write to the process's stdin. */
  stdin?: "piped" | "null";
}

/** A running network; `await using net = await createNetwork([...])` destroys it at scope end. */
export interface Network {
  /** Unique part of every name in this network (`vncws-<pid>-<n>`). */
  id: string;
  /** The hosts by name. */
  hosts: Record<string, NetHost>;
  /** The address of host `name`. */
  ip(name: string): string;
  /** Runs `cmd` in host `name`'s namespace to its end (killed after `timeoutMs`). */
  exec(name: string, cmd: string, args: string[], timeoutMs?: number): Promise<ExecResult>;
  /** Starts `cmd` in host `name`'s namespace; it is stopped by PID when the network is destroyed. */
  start(name: string, cmd: string, args: string[], options?: StartOptions): Proc;
  /** Every namespace of this network, the switch's included. */
  namespaces(): string[];
  /** Stops every process started in the network, then deletes all its namespaces. */
  destroy(): Promise<void>;
  /** {@linkcode destroy}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Why namespaces cannot be made here (not root, no `ip`), or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (Deno.build.os !== "linux") return "network namespaces are Linux only";
  if (Deno.uid() !== 0) return "making network namespaces needs root";
  if (!hasCommand("ip")) return "no ip command (apt-get install iproute2)";
  return undefined;
}

/**
 * For `Deno.test({ ignore: skipUnlessNetns() })`: skips (true), saying why,
 * when namespaces cannot be made here, outside CI; under `CI=true` returns
 * false so that the test runs and fails.
 */
export function skipUnlessNetns(): boolean {
  const why = netnsUnavailable();
  if (why === undefined || IN_CI) return false;
  console.error(`skipped: multi-host test needs network namespaces: ${why}`);
  return true;
}

/** Runs a command to its end, killed after `timeoutMs`. */
async function runToEnd(
  cmd: string,
  args: string[],
  timeoutMs = IP_TIMEOUT_MS,
): Promise<ExecResult> {
  const out = await new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs `ip ARGS`; throws with its error text when it fails. */
async function ipCommand(...args: string[]): Promise<string> {
  const r = await runToEnd("ip", args);
  if (r.code !== 0) throw new Error(`ip ${args.join(" ")} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Namespaces that exist now (`ip netns list`, names only). */
export async function listNamespaces(): Promise<string[]> {
  const out = await ipCommand("netns", "list");
  return out.split("\n").map((l) => l.split(" ")[0]).filter((n) => n !== "");
}

/** PIDs of the processes in namespace `ns`. */
async function pidsIn(ns: string): Promise<number[]> {
  const r = await runToEnd("ip", ["netns", "pids", ns]);
  return r.code === 0 ? r.stdout.split(/\s+/).filter((s) => s !== "").map(Number) : [];
}

/** Kills the processes still in `namespaces` (SIGKILL, by PID), then deletes the namespaces. */
async function deleteNamespaces(namespaces: string[]): Promise<string[]> {
  const problems: string[] = [];
  for (const ns of namespaces) {
    for (const pid of await pidsIn(ns)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone already */ }
    }
    const r = await runToEnd("ip", ["netns", "delete", ns]);
    if (r.code !== 0 && !/No such file/.test(r.stderr)) problems.push(`${ns}: ${r.stderr.trim()}`);
  }
  return problems;
}

/** Deletes namespaces of this module whose test process is gone (it was killed before it could). */
export async function removeStaleNamespaces(): Promise<string[]> {
  const stale = (await listNamespaces()).filter((ns) => {
    const m = /^vncws-(\d+)-/.exec(ns);
    return m !== null && Number(m[1]) !== Deno.pid && !isAlive(Number(m[1]));
  });
  await deleteNamespaces(stale);
  return stale;
}

/**
 * Turns IPv6 off in namespace `ns` before its links are made: the network is
 * IPv4 only, sends no router solicitations, and its addresses do not change
 * after they are set (IPv6 link-local addresses would appear a moment after a
 * link comes up, which Chromium takes for a network change and fails its
 * requests with ERR_NETWORK_CHANGED).
 */
async function ipv4Only(ns: string): Promise<void> {
  const r = await runToEnd("ip", [
    "netns",
    "exec",
    ns,
    "sysctl",
    "-q",
    "-w",
    "net.ipv6.conf.all.disable_ipv6=1",
    "net.ipv6.conf.default.disable_ipv6=1",
  ]);
  if (r.code !== 0) throw new Error(`cannot turn IPv6 off in ${ns}: ${r.stderr.trim()}`);
}

let networks = 0;

/**
 * Makes a network with one host per name (`lb`, `app1`…), addressed
 * {@linkcode NETNS_SUBNET}.10, .11… in the order given, every host's
 * loopback up. Throws (after deleting what it made) when a step fails.
 */
export async function createNetwork(names: string[]): Promise<Network> {
  const why = netnsUnavailable();
  if (why) throw new Error(`cannot make network namespaces: ${why}`);
  if (names.length === 0 || names.length > MAX_HOSTS) {
    throw new Error(`a network has 1 to ${MAX_HOSTS} hosts, not ${names.length}`);
  }
  for (const n of names) {
    if (!HOST_NAME.test(n) || n === "sw") throw new Error(`bad host name ${JSON.stringify(n)}`);
  }
  if (new Set(names).size !== names.length) throw new Error(`host names repeat: ${names}`);
  await removeStaleNamespaces();
  const id = `${PREFIX}${Deno.pid}-${++networks}`;
  const sw = `${id}-sw`;
  const hosts: Record<string, NetHost> = {};
  names.forEach((name, i) => {
    hosts[name] = { name, ns: `${id}-${name}`, ip: `${NETNS_SUBNET}.${FIRST_HOST + i}` };
  });
  const made: string[] = [];
  const procs = new Set<Proc>();
  const network: Network = {
    id,
    hosts,
    ip(name) {
      const h = hosts[name];
      if (!h) throw new Error(`no host ${name} in this network (hosts: ${names.join(", ")})`);
      return h.ip;
    },
    exec(name, cmd, args, timeoutMs = 30_000) {
      return runToEnd("ip", ["netns", "exec", nsOf(name), cmd, ...args], timeoutMs);
    },
    start(name, cmd, args, options = {}) {
      // `ip netns exec` execs the command in place, so the PID is the command's own.
      const p = startProcess("ip", ["netns", "exec", nsOf(name), cmd, ...args], {
        env: options.env,
        cwd: options.cwd,
        stdin: options.stdin,
      });
      procs.add(p);
      return p;
    },
    namespaces: () => [...made],
    async destroy() {
      await Promise.all([...procs].map((p) => p.stop()));
      procs.clear();
      const problems = await deleteNamespaces(made.splice(0).reverse());
      if (problems.length) throw new Error(`namespaces not deleted: ${problems.join("; ")}`);
    },
    [Symbol.asyncDispose]() {
      return network.destroy();
    },
  };
  function nsOf(name: string): string {
    if (!hosts[name]) {
      throw new Error(`no host ${name} in this network (hosts: ${names.join(", ")})`);
    }
    return hosts[name].ns;
  }
  try {
    await ipCommand("netns", "add", sw);
    made.push(sw);
    await ipv4Only(sw);
    await ipCommand("-n", sw, "link", "add", "br0", "type", "bridge");
    await ipCommand("-n", sw, "link", "set", "dev", "br0", "up");
    for (const h of Object.values(hosts)) {
      await ipCommand("netns", "add", h.ns);
      made.push(h.ns);
      await ipv4Only(h.ns);
      // Both ends are made inside their namespaces: no link ever exists in the root namespace.
      await ipCommand(
        "link",
        "add",
        "eth0",
        "netns",
        h.ns,
        "type",
        "veth",
        "peer",
        "name",
        h.name,
        "netns",
        sw,
      );
      await ipCommand("-n", sw, "link", "set", "dev", h.name, "master", "br0");
      await ipCommand("-n", sw, "link", "set", "dev", h.name, "up");
      await ipCommand("-n", h.ns, "addr", "add", `${h.ip}/24`, "dev", "eth0");
      await ipCommand("-n", h.ns, "link", "set", "dev", "eth0", "up");
      await ipCommand("-n", h.ns, "link", "set", "dev", "lo", "up");
    }
  } catch (e) {
    await network.destroy().catch(() => {});
    throw e;
  }
  return network;
}
