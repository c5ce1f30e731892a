/**
 * The plain-HTTP side of the listening port: static files from a web root
 * (websockify's `--web DIR`), the bundled viewer with the noVNC library, or
 * nothing (405) when the web server is off.
 *
 * Paths are decoded once, segment by segment; any `.`/`..` segment, encoded
 * slash, backslash or NUL is refused, and the resolved real path (symlinks
 * followed) must stay inside the root. In bundled mode only the exact files
 * listed at start are served.
 * @module
 */
import { join, sep } from "node:path";
import type { RequestHead } from "../http/head.ts";
import { type HttpResponse, textResponse } from "../http/response.ts";
import { logWarn } from "../base/log.ts";
import { bundledFiles, locateAssets } from "./assets.ts";
import { contentType } from "./mime.ts";
import { acceptsGzip, compressible, GzipCache } from "./gzip.ts";
import { escapeHtml } from "../base/text.ts";
import {
  VIEWER_SETTINGS_PATH,
  type ViewerSettingsPair,
  viewerSettingsResponse,
} from "./viewer_settings.ts";

/** Options for {@linkcode createWebHandler}. */
export interface WebHandlerOptions {
  /** Web root: a directory, "" for the bundled viewer, null for no web server. */
  root: string | null;
  /** Directory listings for directories without index.html (off: 404). */
  dirListing: boolean;
  /** WebSocket path the viewer connects to, without a leading slash (default "websockify"). */
  wsPath?: string;
  /** X-Frame-Options value (default "SAMEORIGIN"; "DENY"; "" sends none). */
  frameOptions?: string;
  /**
   * The operator's viewer settings, served at `/vnc_settings.json` (asked
   * for each request: a reload may change them); absent = both empty.
   */
  viewerSettings?: () => ViewerSettingsPair;
}

/** A request handler for GET/HEAD (and the 405 for everything else). */
export type WebHandler = (head: RequestHead) => Promise<HttpResponse>;

/** Files above this size are refused: responses are built in memory. */
export const MAX_FILE_BYTES = 64 * 1024 * 1024;

/** Compressed bodies kept per handler (the bundled viewer's gzipped is ~0.3 MB). */
export const GZIP_CACHE_BYTES = 16 * 1024 * 1024;

/** Bodies below this size are sent as they are: gzip's framing would eat the gain. */
export const GZIP_MIN_BYTES = 256;

/** The ETag of a file's gzipped form: a different representation needs a different tag. */
function gzipTag(etag: string): string {
  return etag.replace(/"$/, '-gz"');
}

/** A host or port as the operator's settings give it, if it is safe in a CSP source. */
function cspPart(v: string | number | boolean | undefined, re: RegExp): string | undefined {
  return v === undefined || typeof v === "boolean" || !re.test(String(v)) ? undefined : String(v);
}

/**
 * The other endpoint the operator's viewer settings send the page to
 * (`host`, `port` in the mandatory, else the default, settings), as CSP
 * sources for the WebSocket and its probe; none when they name none.
 */
export function operatorConnectSources(settings: ViewerSettingsPair | undefined): string[] {
  if (settings === undefined) return [];
  const pick = (key: string) => settings.mandatory[key] ?? settings.defaults[key];
  const raw = cspPart(
    pick("host"),
    /^(\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+|[A-Za-z0-9.-]+)$/,
  );
  const port = cspPart(pick("port"), /^[0-9]{1,5}$/);
  if (raw === undefined && port === undefined) return [];
  // Without a host the page's own host is meant: 'self' cannot say "another port".
  if (raw === undefined) return ["ws:", "wss:"].map((p) => `${p}//*:${port}`);
  const host = raw.includes(":") && !raw.startsWith("[") ? `[${raw}]` : raw;
  return ["ws:", "wss:", "http:", "https:"].map((p) => `${p}//${host}:${port ?? "*"}`);
}

/**
 * Content-Security-Policy of the bundled viewer: no inline code, and
 * connections to its own origin only ('self' covers ws:/wss: to it), plus
 * the endpoint the operator's settings name (`extraConnect`).
 */
export function viewerCsp(frameOptions: string, extraConnect: readonly string[] = []): string {
  const ancestors = frameOptions.toUpperCase() === "DENY"
    ? "; frame-ancestors 'none'"
    : frameOptions.toUpperCase() === "SAMEORIGIN"
    ? "; frame-ancestors 'self'"
    : "";
  return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
    `connect-src ${
      ["'self'", ...extraConnect].join(" ")
    }; object-src 'none'; base-uri 'none'; form-action 'none'` +
    ancestors;
}

class Refusal {
  constructor(readonly status: number, readonly reason: string) {}
}

/** Decoded, checked path segments of a request path. */
interface SafePath {
  segments: string[];
  /** The raw path ended with "/". */
  trailingSlash: boolean;
  /** The raw path with repeated slashes collapsed (for redirects). */
  clean: string;
}

/** Decodes and checks a request path; throws {@linkcode Refusal}. */
function safePath(rawPath: string): SafePath {
  let raw = rawPath;
  if (/^https?:\/\//i.test(raw)) {
    // absolute-form request target (RFC 9112 §3.2.2)
    try {
      raw = new URL(raw).pathname;
    } catch {
      throw new Refusal(400, "malformed request target");
    }
  }
  if (!raw.startsWith("/")) throw new Refusal(400, "request path must start with /");
  if (raw.includes("\\")) throw new Refusal(403, "backslash in path");
  const segments: string[] = [];
  for (const part of raw.split("/")) {
    if (part === "") continue;
    let seg: string;
    try {
      seg = decodeURIComponent(part);
    } catch {
      throw new Refusal(400, "malformed percent-encoding in path");
    }
    if (seg === "." || seg === "..") throw new Refusal(403, "dot segment in path");
    if (/[\/\\\0]/.test(seg)) throw new Refusal(403, "encoded slash, backslash or NUL in path");
    // Hidden files (.git, .htpasswd, ...) are never served.
    if (seg.startsWith(".")) throw new Refusal(404, "not found");
    segments.push(seg);
  }
  const clean = "/" + raw.split("/").filter((p) => p !== "").join("/");
  const trailingSlash = raw.endsWith("/") && segments.length > 0;
  return { segments, trailingSlash, clean: trailingSlash ? clean + "/" : clean };
}

function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** Weak ETag comparison against an If-None-Match list. */
function etagMatches(header: string, etag: string): boolean {
  const bare = (t: string) => t.trim().replace(/^W\//, "");
  return header.split(",").some((t) => t.trim() === "*" || bare(t) === bare(etag));
}

function notModified(head: RequestHead, etag: string, mtime: Date | null): boolean {
  const inm = head.headers.get("if-none-match");
  if (inm !== undefined) return etagMatches(inm, etag);
  const ims = head.headers.get("if-modified-since");
  if (ims !== undefined && mtime) {
    const since = Date.parse(ims);
    return !Number.isNaN(since) && Math.floor(mtime.getTime() / 1000) * 1000 <= since;
  }
  return false;
}

async function sha1Tag(body: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", body as BufferSource));
  return `"${[...digest.slice(0, 12)].map((b) => b.toString(16).padStart(2, "0")).join("")}"`;
}

/** A file ready to answer with: its body and validators. */
interface FileAnswer {
  type: string;
  size: number;
  etag: string;
  mtime: Date | null;
  body: Uint8Array;
}

/**
 * Creates the handler for non-upgrade HTTP requests.
 * - `root: null`: every request gets 405 (websockify without `--web`).
 * - `root: ""`: the bundled viewer: `/` redirects to `vnc.html?autoconnect=1&path=...`
 *   (keeping `?token=`), `/vnc.html`, `/core/...`, `/vendor/...`.
 * - `root: DIR`: files from DIR as websockify `--web DIR`, safely.
 * With a root, `/vnc_settings.json` is the operator's viewer settings in
 * either mode (src/web/viewer_settings.ts).
 * Text files (html, js, css, json, svg, ...) are gzipped for clients whose
 * Accept-Encoding allows it (`Vary: Accept-Encoding`, an ETag of their own);
 * compressed bodies are cached, bounded by {@linkcode GZIP_CACHE_BYTES}.
 * The response always carries the full headers and body; for HEAD the writer drops the body
 * (`writeResponse(stream, res, { headOnly: true })`), and Content-Length stays right.
 */
export function createWebHandler(options: WebHandlerOptions): WebHandler {
  const frameOptions = options.frameOptions ?? "SAMEORIGIN";
  const wsPath = (options.wsPath ?? "websockify").replace(/^\/+/, "");
  const security: Record<string, string> = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
  };
  if (frameOptions !== "") security["X-Frame-Options"] = frameOptions;
  const root = options.root;

  if (root === null) {
    return (head) =>
      Promise.resolve(textResponse(
        405,
        `${head.method} not allowed: this port serves WebSocket connections only (web server off)`,
        security,
      ));
  }

  const bundled = root === "";
  // Per answer: SIGHUP may change the operator's settings and so the endpoint allowed.
  const csp = (): Record<string, string> =>
    bundled
      ? {
        "Content-Security-Policy": viewerCsp(
          frameOptions,
          operatorConnectSources(options.viewerSettings?.()),
        ),
      }
      : {};

  // Resolved once: the bundled file list, or the real path of the web root.
  const ready: Promise<{ files?: Map<string, string>; rootReal?: string }> = bundled
    ? (async () => ({ files: await bundledFiles(locateAssets()) }))()
    : Deno.realPath(root).then((rootReal) => ({ rootReal }));
  ready.catch((e) => logWarn(`web: ${e instanceof Error ? e.message : e}`));
  const cache = new Map<string, FileAnswer>();
  const gzipCache = new GzipCache(GZIP_CACHE_BYTES);

  const respond = (status: number, headers: Record<string, string>, body?: Uint8Array) => ({
    status,
    headers: { ...security, ...csp(), ...headers },
    body,
  });

  /**
   * The answer for a file, gzipped when the client accepts it and the type
   * shrinks (`key`: the file's path, for the compressed-body cache).
   */
  const fileResponse = async (
    head: RequestHead,
    f: FileAnswer,
    key: string,
  ): Promise<HttpResponse> => {
    const headers: Record<string, string> = {
      "Content-Type": f.type,
      "Cache-Control": "no-cache",
    };
    const zippable = compressible(f.type) && f.size >= GZIP_MIN_BYTES;
    // The answer depends on Accept-Encoding: caches must key on it.
    if (compressible(f.type)) headers["Vary"] = "Accept-Encoding";
    const zipped = zippable && acceptsGzip(head.headers.get("accept-encoding"));
    const etag = zipped ? gzipTag(f.etag) : f.etag;
    headers["ETag"] = etag;
    if (f.mtime) headers["Last-Modified"] = f.mtime.toUTCString();
    if (notModified(head, etag, f.mtime)) return respond(304, headers);
    let body = f.body;
    if (zipped) {
      body = await gzipCache.get(`${key}\0${f.etag}`, body);
      headers["Content-Encoding"] = "gzip";
    }
    headers["Content-Length"] = String(body.length);
    return respond(200, headers, head.method === "HEAD" ? undefined : body);
  };

  /** Reads a regular file (already checked to be inside the root). */
  const readFile = async (
    path: string,
    info: Deno.FileInfo,
    keep: boolean,
  ): Promise<FileAnswer> => {
    const hit = cache.get(path);
    if (hit && hit.size === info.size && hit.mtime?.getTime() === info.mtime?.getTime()) return hit;
    if (info.size > MAX_FILE_BYTES) {
      throw new Refusal(500, `file larger than ${MAX_FILE_BYTES} bytes is not served`);
    }
    const body = await Deno.readFile(path);
    const etag = info.mtime
      ? `W/"${body.length.toString(16)}-${info.mtime.getTime().toString(16)}"`
      : await sha1Tag(body);
    const answer = { type: contentType(path), size: body.length, etag, mtime: info.mtime, body };
    if (keep) cache.set(path, answer);
    return answer;
  };

  const listing = async (dir: string, urlPath: string): Promise<HttpResponse> => {
    const entries: string[] = [];
    for await (const e of Deno.readDir(dir)) {
      if (!e.name.startsWith(".")) entries.push(e.isDirectory ? e.name + "/" : e.name);
    }
    entries.sort();
    const title = escapeHtml(`Index of ${decodeURIComponent(urlPath)}`);
    const items = entries
      .map((n) => {
        const href = encodeURIComponent(n.replace(/\/$/, "")) + (n.endsWith("/") ? "/" : "");
        return `<li><a href="${escapeHtml(href)}">${escapeHtml(n)}</a></li>`;
      })
      .join("\n");
    const html = `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${title}</title>` +
      `</head><body><h1>${title}</h1><ul>\n${items}\n</ul></body></html>\n`;
    const body = new TextEncoder().encode(html);
    return respond(200, {
      "Content-Type": "text/html; charset=utf-8",
      "Content-Length": String(body.length),
      "Cache-Control": "no-cache",
      "Content-Security-Policy": "default-src 'none'",
    }, body);
  };

  const serveBundled = async (head: RequestHead, p: SafePath, files: Map<string, string>) => {
    if (p.segments.length === 0) {
      const token = head.query.get("token");
      const q = new URLSearchParams({ autoconnect: "1", path: wsPath });
      if (token !== null) q.set("token", token);
      return respond(302, { "Location": `vnc.html?${q}`, "Cache-Control": "no-store" });
    }
    const urlPath = "/" + p.segments.join("/");
    const file = files.get(urlPath === "/vnc_lite.html" ? "/vnc.html" : urlPath);
    if (file === undefined || p.trailingSlash) throw new Refusal(404, "not found");
    return await fileResponse(head, await readFile(file, await Deno.stat(file), true), file);
  };

  const serveDir = async (head: RequestHead, p: SafePath, rootReal: string) => {
    let real: string;
    try {
      real = await Deno.realPath(join(rootReal, ...p.segments));
    } catch (e) {
      if (e instanceof Deno.errors.PermissionDenied) throw new Refusal(403, "permission denied");
      throw new Refusal(404, "not found");
    }
    if (!isInside(rootReal, real)) throw new Refusal(403, "path resolves outside the web root");
    let info = await Deno.stat(real);
    const wasDirectory = info.isDirectory;
    if (wasDirectory) {
      if (!p.trailingSlash && p.segments.length > 0) {
        const q = head.target.indexOf("?");
        const location = p.clean + "/" + (q < 0 ? "" : head.target.slice(q));
        return respond(301, { "Location": location, "Cache-Control": "no-cache" });
      }
      let index: string | undefined;
      try {
        index = await Deno.realPath(join(real, "index.html"));
      } catch { /* no index.html */ }
      if (index === undefined) {
        if (!options.dirListing) throw new Refusal(404, "not found (directory listing is off)");
        return await listing(real, p.clean);
      }
      if (!isInside(rootReal, index)) throw new Refusal(403, "path resolves outside the web root");
      real = index;
      info = await Deno.stat(real);
    }
    // FIFOs, sockets and devices would block or leak: only regular files.
    if (!info.isFile || (p.trailingSlash && !wasDirectory)) throw new Refusal(404, "not found");
    return await fileResponse(head, await readFile(real, info, false), real);
  };

  return async (head) => {
    if (head.method !== "GET" && head.method !== "HEAD") {
      return respond(405, {
        "Allow": "GET, HEAD",
        "Content-Type": "text/plain; charset=utf-8",
      }, new TextEncoder().encode(`405 Method Not Allowed: only GET and HEAD are served\n`));
    }
    if (head.path === VIEWER_SETTINGS_PATH) {
      const settings = options.viewerSettings?.() ?? { defaults: {}, mandatory: {} };
      return viewerSettingsResponse(settings, security);
    }
    try {
      const p = safePath(head.path);
      const state = await ready;
      return state.files
        ? await serveBundled(head, p, state.files)
        : await serveDir(head, p, state.rootReal!);
    } catch (e) {
      if (e instanceof Refusal) return textResponse(e.status, e.reason, security);
      if (e instanceof Deno.errors.NotFound) return textResponse(404, "not found", security);
      if (e instanceof Deno.errors.PermissionDenied) {
        return textResponse(403, "permission denied", security);
      }
      const msg = e instanceof Error ? e.message : String(e);
      logWarn(`web: ${head.method} ${head.path} failed: ${msg}`);
      return textResponse(
        500,
        "the web server could not read this file; see the vncws log",
        security,
      );
    }
  };
}
