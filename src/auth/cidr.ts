/**
 * IP address and CIDR matching for `--allow-ip`, `--deny-ip` and
 * `--trusted-proxy`. IPv4 and IPv6; an IPv4-mapped IPv6 address
 * (`::ffff:10.1.2.3`, what a dual-stack listener reports for IPv4 clients)
 * is treated as the IPv4 address, on both sides of the match.
 * @module
 */

import { parseIp } from "../net/ip.ts";

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

/** Whether `ip` (4 or 16 bytes, as from `parseIp`) lies in `cidr`; IPv4 never matches IPv6. */
export function cidrContains(cidr: Cidr, ip: Uint8Array): boolean {
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
  /** The parsed blocks, in the order given. */
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
    return bytes !== undefined && this.blocks.some((b) => cidrContains(b, bytes));
  }
}
