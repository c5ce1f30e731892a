/**
 * Gzip for the static web server: whether a request accepts it, whether a
 * type is worth it, the compression itself (CompressionStream, off the main
 * thread's hot path), and a byte-bounded cache of compressed bodies so that
 * the bundled viewer's files are compressed once, not on every page load.
 * @module
 */

/** Content types that shrink under gzip (text; images and fonts are already packed). */
const COMPRESSIBLE = /^(text\/|application\/(json|javascript|xml|manifest\+json)|image\/svg\+xml)/i;

/** Whether responses of this Content-Type are worth compressing. */
export function compressible(contentType: string): boolean {
  return COMPRESSIBLE.test(contentType);
}

/**
 * Whether an Accept-Encoding header admits gzip (RFC 9110 §12.5.3): `gzip`
 * (or `x-gzip`, or `*` when gzip is not named) with a q-value above 0.
 */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  let gzip: number | undefined;
  let star: number | undefined;
  for (const item of header.split(",")) {
    const [name, ...params] = item.trim().toLowerCase().split(";");
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p);
      if (m) q = Number(m[1]);
    }
    if (Number.isNaN(q)) continue;
    const coding = name.trim();
    if (coding === "gzip" || coding === "x-gzip") gzip = Math.max(gzip ?? 0, q);
    else if (coding === "*") star = q;
  }
  return (gzip ?? star ?? 0) > 0;
}

/** Gzip-compresses `body`. */
export async function gzip(body: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([body as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Compressed bodies by key, least recently used dropped first once their
 * total passes `maxBytes`. A body larger than the whole budget is not kept.
 */
export class GzipCache {
  readonly #entries = new Map<string, Uint8Array>();
  #bytes = 0;

  /** The most compressed bytes held at once. */
  readonly maxBytes: number;

  /** A cache holding at most `maxBytes` compressed bytes. */
  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** Total compressed bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The compressed `body` for `key`, compressing (and keeping) it on a miss. */
  async get(key: string, body: Uint8Array): Promise<Uint8Array> {
    const hit = this.#entries.get(key);
    if (hit !== undefined) {
      // Re-insert: Map order is the recency order.
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit;
    }
    const packed = await gzip(body);
    // Another request may have compressed the same body meanwhile.
    const raced = this.#entries.get(key);
    if (raced !== undefined) return raced;
    if (packed.length > this.maxBytes) return packed;
    this.#entries.set(key, packed);
    this.#bytes += packed.length;
    for (const [k, v] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#entries.delete(k);
      this.#bytes -= v.length;
    }
    return packed;
  }
}
