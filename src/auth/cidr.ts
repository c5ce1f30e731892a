/**
 * IP address and CIDR matching for `--allow-ip`, `--deny-ip` and
 * `--trusted-proxy`. IPv4 and IPv6; an IPv4-mapped IPv6 address
 * (`::ffff:10.1.2.3`, what a dual-stack listener reports for IPv4 clients)
 * is treated as the IPv4 address, on both sides of the match.
 * @module
 */

/** Parses an IPv4 dotted quad into 4 bytes, or `undefined`. */
function parseV4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    // No leading zeros: "010" is octal to some parsers, ambiguous here.
    if (!/^(0|[1-9]\d{0,2})$/.test(parts[i])) return undefined;
    const n = Number(parts[i]);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

/** Parses an IPv6 address (with `::` and an optional IPv4 tail) into 16 bytes, or `undefined`. */
function parseV6(text: string): Uint8Array | undefined {
  let head: string[];
  let tail: string[];
  const dbl = text.indexOf("::");
  if (dbl >= 0) {
    if (text.indexOf("::", dbl + 1) >= 0) return undefined;
    head = text.slice(0, dbl) === "" ? [] : text.slice(0, dbl).split(":");
    tail = text.slice(dbl + 2) === "" ? [] : text.slice(dbl + 2).split(":");
  } else {
    head = text.split(":");
    tail = [];
  }
  const groups: number[] = [];
  const pushGroups = (list: string[], isLast: boolean): boolean => {
    for (let i = 0; i < list.length; i++) {
      const g = list[i];
      if (isLast && i === list.length - 1 && g.includes(".")) {
        const v4 = parseV4(g);
        if (!v4) return false;
        groups.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return false;
      groups.push(parseInt(g, 16));
    }
    return true;
  };
  if (!pushGroups(head, tail.length === 0 && dbl < 0)) return undefined;
  const headCount = groups.length;
  if (!pushGroups(tail, true)) return undefined;
  const tailGroups = groups.splice(headCount);
  if (dbl >= 0) {
    const fill = 8 - groups.length - tailGroups.length;
    if (fill < 1) return undefined;
    for (let i = 0; i < fill; i++) groups.push(0);
  }
  groups.push(...tailGroups);
  if (groups.length !== 8) return undefined;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

function isMapped(v6: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (v6[i] !== 0) return false;
  return v6[10] === 0xff && v6[11] === 0xff;
}

/**
 * Parses an IP address: IPv4, IPv6 (brackets and a `%zone` suffix allowed).
 * IPv4-mapped IPv6 addresses come back as 4 bytes. `undefined` when invalid.
 */
export function parseIp(text: string): Uint8Array | undefined {
  let t = text.trim();
  if (t.startsWith("[") && t.endsWith("]")) t = t.slice(1, -1);
  const zone = t.indexOf("%");
  if (zone >= 0) t = t.slice(0, zone);
  if (!t.includes(":")) return parseV4(t);
  const v6 = parseV6(t);
  if (v6 && isMapped(v6)) return v6.slice(12);
  return v6;
}

/** Formats parsed bytes canonically (`10.0.0.1`, `2001:db8::1`). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  // Longest run of zero groups (length ≥ 2) becomes "::" (RFC 5952).
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/** An address with a mapped IPv4 shown as IPv4; invalid input comes back unchanged. */
export function normalizeIp(text: string): string {
  const bytes = parseIp(text);
  return bytes ? formatIp(bytes) : text;
}

/** A parsed CIDR block. */
export interface Cidr {
  /** 4 or 16 bytes, host bits cleared. */
  bytes: Uint8Array;
  /** Prefix length in bits. */
  prefix: number;
}

/**
 * Parses `addr/prefix` or a bare address (a /32 or /128). Host bits are
 * cleared (`10.1.2.3/8` = `10.0.0.0/8`). A mapped IPv6 block
 * (`::ffff:10.0.0.0/104`) becomes its IPv4 block. Throws on bad input.
 */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text : text.slice(0, slash);
  const bytes = parseIp(addr);
  const fail = () =>
    new Error(
      `"${text}" is not an IP address or CIDR block (examples: 10.0.0.0/8, 2001:db8::/32, 127.0.0.1)`,
    );
  if (!bytes) throw fail();
  const wasV6 = addr.includes(":");
  const max = wasV6 ? 128 : 32;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) throw fail();
    prefix = Number(p);
  }
  if (wasV6 && bytes.length === 4) {
    // A mapped block: its prefix counts the 96 bits of ::ffff:0:0/96.
    if (prefix < 96) {
      throw new Error(
        `"${text}" mixes IPv4-mapped and other IPv6 addresses; write the IPv4 block instead`,
      );
    }
    prefix -= 96;
  }
  const masked = bytes.slice();
  for (let i = 0; i < masked.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - 8 * i));
    masked[i] &= bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
  return { bytes: masked, prefix };
}

function contains(cidr: Cidr, ip: Uint8Array): boolean {
  if (cidr.bytes.length !== ip.length) return false;
  for (let i = 0; i < ip.length; i++) {
    const bits = Math.max(0, Math.min(8, cidr.prefix - 8 * i));
    if (bits === 0) return true;
    const mask = (0xff << (8 - bits)) & 0xff;
    if ((ip[i] & mask) !== cidr.bytes[i]) return false;
  }
  return true;
}

/** A list of CIDR blocks, parsed once, matched many times. */
export class CidrList {
  readonly blocks: readonly Cidr[];

  /** Parses every entry; throws naming the first bad one. Entries may be comma-separated. */
  constructor(entries: readonly string[]) {
    this.blocks = entries.flatMap((e) => e.split(",")).map((e) => e.trim()).filter((e) => e !== "")
      .map(parseCidr);
  }

  /** Whether the list is empty. */
  get empty(): boolean {
    return this.blocks.length === 0;
  }

  /** Whether `ip` (text) falls in any block; an unparsable address never matches. */
  contains(ip: string): boolean {
    const bytes = parseIp(ip);
    return bytes !== undefined && this.blocks.some((b) => contains(b, bytes));
  }
}
