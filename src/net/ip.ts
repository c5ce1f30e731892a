/**
 * IP addresses as bytes: parsing (IPv4, IPv6, IPv4-mapped IPv6 folded to
 * IPv4) and canonical text. The ground for CIDR matching (auth/) and the
 * PROXY protocol header (net/).
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
