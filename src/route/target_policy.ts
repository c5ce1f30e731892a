/**
 * Which targets a token may lead to (`--allow-target`, `--deny-target`):
 * without it, whoever controls a token backend — or a token's claims —
 * could make vncws open TCP connections anywhere it can reach, the cloud
 * metadata service included.
 *
 * A rule is one of
 * - `CIDR[:PORT|:LOW-HIGH]`: addresses in the block (`10.20.0.0/16:5900-5999`;
 *   an IPv6 block takes brackets before a port: `[fd00::/8]:5900`, or stands
 *   bare without one);
 * - a host name, optionally with a port or range: the target's host name as
 *   the token gave it, exact or `*.suffix`, case-insensitive;
 * - `unix:/dir/*`: unix-socket targets whose normalised path matches the glob
 *   (`*` is any run of characters but `/`).
 *
 * A TCP target's host is resolved once, here, and every address is checked:
 * deny rules win, then link-local and metadata addresses are refused unless
 * an allow block inside them names them, then, when there are allow rules,
 * each address must be covered by one (or the host name by a name rule).
 * The target that comes back connects to exactly the checked addresses
 * (`hostname` and `alternates`) and keeps the name for TLS and logs, so a
 * second DNS answer cannot lead the connection elsewhere.
 * @module
 */
import { posix } from "node:path";
import { type Cidr, cidrContains, parseCidr } from "../auth/cidr.ts";
import { type Refusal, refusal } from "../auth/refusal.ts";
import { raceTimeout } from "../base/time.ts";
import { formatHostPort, formatTarget, parsePort, type Target } from "../net/address.ts";
import { parseIp } from "../net/ip.ts";

/** An inclusive port range. */
export interface PortRange {
  /** The lowest port. */
  low: number;
  /** The highest port. */
  high: number;
}

/** One parsed `--allow-target`/`--deny-target` entry. */
export type TargetRule =
  | { kind: "cidr"; text: string; cidr: Cidr; ports?: PortRange }
  | {
    kind: "name";
    text: string;
    /** Lower case, without a trailing dot; for `*.suffix` the `.suffix` part. */
    name: string;
    /** `*.suffix`: any name ending in `name` (not the suffix itself). */
    wildcard: boolean;
    ports?: PortRange;
  }
  | { kind: "unix"; text: string; pattern: RegExp };

/** Resolves a host name to every address it has (as getaddrinfo, /etc/hosts included). */
export type HostResolver = (hostname: string) => Promise<string[]>;

/** The system resolver: node:dns `lookup` with `all`, the same source the connect would use. */
export async function lookupAll(hostname: string): Promise<string[]> {
  // Loaded at the first lookup: most runs never resolve a token target's name.
  const { lookup } = await import("node:dns/promises");
  return (await lookup(hostname, { all: true })).map((a) => a.address);
}

const FORMS = "give CIDR[:PORT|:LOW-HIGH] (10.20.0.0/16:5900-5999, [fd00::/8]:5900), " +
  "a host name (vnc.example.com:5900, *.example.com) or unix:/dir/*";

const NAME = /^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/;

function parsePorts(text: string, fail: (why: string) => Error): PortRange {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) throw fail(`"${text}" is not a port or a range such as 5900-5999`);
  try {
    const low = parsePort(m[1]);
    const high = m[2] === undefined ? low : parsePort(m[2]);
    if (low > high) throw new Error(`the range ${text} runs backwards`);
    return { low, high };
  } catch (e) {
    throw fail((e as Error).message);
  }
}

function unixRule(text: string, path: string, fail: (why: string) => Error): TargetRule {
  if (!path.startsWith("/")) throw fail("a unix rule needs an absolute path, e.g. unix:/run/vnc/*");
  // Normalised like the targets it is matched against, so `..` means the same on both sides.
  const glob = posix.normalize(path);
  const source = glob.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^/]*");
  return { kind: "unix", text, pattern: new RegExp(`^${source}$`) };
}

/** Parses one rule; throws a message that names it and the forms accepted. */
export function parseTargetRule(text: string): TargetRule {
  const t = text.trim();
  const fail = (why: string) => new Error(`"${text}" is not a target rule: ${why}; ${FORMS}`);
  if (/^unix:/i.test(t)) return unixRule(t, t.slice(5), fail);
  let host = t;
  let portText: string | undefined;
  if (t.startsWith("[")) {
    const close = t.indexOf("]");
    if (close < 0) throw fail(`no "]" after "["`);
    host = t.slice(1, close);
    const rest = t.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":")) throw fail(`expected ":PORT" after "]"`);
    if (rest !== "") portText = rest.slice(1);
  } else if (t.split(":").length === 2) {
    // One colon: host or IPv4 block, then the port. Two or more: a bare IPv6 block.
    [host, portText] = t.split(":");
  }
  const ports = portText === undefined ? undefined : parsePorts(portText, fail);
  if (host === "") throw fail("it is empty");
  if (host.includes("/") || parseIp(host)) {
    try {
      return { kind: "cidr", text: t, cidr: parseCidr(host), ports };
    } catch (e) {
      throw fail((e as Error).message);
    }
  }
  const name = host.toLowerCase().replace(/\.$/, "");
  if (!NAME.test(name)) throw fail(`"${host}" is neither an IP block nor a host name`);
  if (/^\d+$/.test(name.slice(name.lastIndexOf(".") + 1))) {
    throw fail(`"${host}" looks like an IP address but is not one`);
  }
  const wildcard = name.startsWith("*.");
  return { kind: "name", text: t, name: wildcard ? name.slice(1) : name, wildcard, ports };
}

/**
 * Parses a list of rules (entries may be comma- or space-separated, as on
 * the command line); `option` names the flag in the error.
 */
export function parseTargetRules(entries: readonly string[], option: string): TargetRule[] {
  return entries.flatMap((e) => e.split(/[\s,]+/)).filter((e) => e !== "").map((e) => {
    try {
      return parseTargetRule(e);
    } catch (err) {
      throw new Error(`${option} ${(err as Error).message}`);
    }
  });
}

/**
 * Refused for token targets unless an allow block inside them names them:
 * IPv4 and IPv6 link-local (169.254.169.254 is the metadata service of most
 * clouds), link-local through NAT64 (64:ff9b::169.254.x.y), AWS's IPv6 and
 * Alibaba's metadata addresses, and "this host" (0.0.0.0/8 and ::, which
 * Linux connects to loopback, so `--deny-target 127.0.0.0/8` alone would
 * not cover them).
 */
const GUARDED: readonly Cidr[] = [
  "169.254.0.0/16",
  "fe80::/10",
  "64:ff9b::a9fe:0/112",
  "fd00:ec2::254/128",
  "100.100.100.200/32",
  "0.0.0.0/8",
  "::/128",
].map(parseCidr);

/** Whether block `inner` lies entirely inside `outer`. */
function within(inner: Cidr, outer: Cidr): boolean {
  return inner.prefix >= outer.prefix && cidrContains(outer, inner.bytes);
}

function portIn(ports: PortRange | undefined, port: number): boolean {
  return ports === undefined || (port >= ports.low && port <= ports.high);
}

function nameMatches(rule: TargetRule, host: string, port: number): boolean {
  if (rule.kind !== "name" || !portIn(rule.ports, port)) return false;
  const h = host.toLowerCase().replace(/\.$/, "");
  return rule.wildcard ? h.endsWith(rule.name) && h.length > rule.name.length : h === rule.name;
}

function blockMatches(rule: TargetRule, ip: Uint8Array, port: number): boolean {
  return rule.kind === "cidr" && portIn(rule.ports, port) && cidrContains(rule.cidr, ip);
}

/** Options for {@linkcode createTargetPolicy}. */
export interface TargetPolicyOptions {
  /** `--allow-target` entries (empty: every target not denied). */
  allow?: readonly string[];
  /** `--deny-target` entries (win over allow). */
  deny?: readonly string[];
  /** How host names are resolved (tests inject one); default {@linkcode lookupAll}. */
  resolve?: HostResolver;
  /** Give up resolving after this many milliseconds (default 10 s). */
  timeoutMs?: number;
}

/** The target policy, built once per router. */
export interface TargetPolicy {
  /**
   * Checks a token's target. Resolves the target to connect to instead (its
   * host replaced by the checked addresses), a 403 `target_denied` refusal,
   * or a 502 `connect_failed` when the host cannot be resolved. `token` is
   * the token's hash, for the log line.
   */
  check(target: Target, token?: string): Promise<Target | Refusal>;
}

/** Builds the policy; throws naming the first bad rule. */
export function createTargetPolicy(options: TargetPolicyOptions = {}): TargetPolicy {
  const allow = parseTargetRules(options.allow ?? [], "--allow-target");
  const deny = parseTargetRules(options.deny ?? [], "--deny-target");
  const resolve = options.resolve ?? lookupAll;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const guardAllowed = allow.filter((r) =>
    r.kind === "cidr" && GUARDED.some((g) => within(r.cidr, g))
  );

  /** Why `ip` may not be connected to, or undefined when it may. */
  const addressProblem = (ip: Uint8Array, port: number, nameAllowed: boolean) => {
    if (deny.some((r) => blockMatches(r, ip, port))) return "denied by --deny-target";
    if (
      GUARDED.some((g) => cidrContains(g, ip)) &&
      !guardAllowed.some((r) => blockMatches(r, ip, port))
    ) {
      return "a link-local or cloud metadata address (allow it with --allow-target naming its block)";
    }
    if (allow.length > 0 && !nameAllowed && !allow.some((r) => blockMatches(r, ip, port))) {
      return "not covered by --allow-target";
    }
    return undefined;
  };

  const checkUnix = (target: Target & { kind: "unix" }, token?: string): Target | Refusal => {
    // Lexically normalised: "/run/vnc/../../etc/x" is checked (and connected) as "/etc/x".
    const path = posix.resolve(target.path);
    const denied = (why: string) => targetDenied(target, token, why);
    if (deny.some((r) => r.kind === "unix" && r.pattern.test(path))) {
      return denied(`${path} is denied by --deny-target`);
    }
    if (allow.length > 0 && !allow.some((r) => r.kind === "unix" && r.pattern.test(path))) {
      return denied(`${path} is not covered by --allow-target`);
    }
    return { kind: "unix", path };
  };

  /** Every address of `hosts`, IP literals as they are, names resolved once. */
  const addressesOf = async (hosts: string[]): Promise<string[] | string> => {
    const out: string[] = [];
    for (const host of hosts) {
      if (parseIp(host)) {
        out.push(host);
        continue;
      }
      let found: string[] | symbol;
      try {
        const answer = resolve(host);
        answer.catch(() => {}); // a late failure after the timeout is not ours to report
        found = await raceTimeout(answer, timeoutMs);
      } catch (e) {
        return `cannot resolve ${host}: ${(e as Error)?.message ?? e}`;
      }
      if (typeof found === "symbol") return `cannot resolve ${host}: timed out`;
      if (found.length === 0) return `cannot resolve ${host}: no addresses`;
      out.push(...found);
    }
    return [...new Set(out)];
  };

  return {
    async check(target, token) {
      if (target.kind === "unix") return checkUnix(target, token);
      const name = target.name ?? target.hostname;
      const named = parseIp(name) === undefined;
      const { port } = target;
      if (named && deny.some((r) => nameMatches(r, name, port))) {
        return targetDenied(target, token, `${name} is denied by --deny-target`);
      }
      const nameAllowed = named && allow.some((r) => nameMatches(r, name, port));
      if (allow.length > 0 && !nameAllowed && !allow.some((r) => r.kind === "cidr")) {
        // Only names (or unix paths) are allowed and this is not one: no DNS query for it.
        return targetDenied(target, token, `${name} is not covered by --allow-target`);
      }
      const addresses = await addressesOf([target.hostname, ...(target.alternates ?? [])]);
      if (typeof addresses === "string") {
        return { ...refusal("connect_failed", 502, addresses), log: { token } };
      }
      for (const address of addresses) {
        const ip = parseIp(address);
        const problem = ip ? addressProblem(ip, port, nameAllowed) : "not an IP address";
        if (problem) return targetDenied(target, token, `${address} is ${problem}`, address);
      }
      const [first, ...rest] = addresses;
      const checked: Target = { kind: "tcp", hostname: first, port };
      if (rest.length > 0) checked.alternates = rest;
      if (target.tls !== undefined) checked.tls = target.tls;
      if (named) checked.name = name;
      return checked;
    },
  };
}

/** The 403: the client learns only that the target is not allowed; the log line learns why. */
function targetDenied(
  target: Target,
  token: string | undefined,
  why: string,
  address?: string,
): Refusal {
  const where = formatTarget(target);
  const shown = address && target.kind === "tcp" ? formatHostPort(address, target.port) : undefined;
  return {
    ...refusal("target_denied", 403, "target not allowed"),
    detail: why,
    log: { token, target: where, address: shown },
  };
}
