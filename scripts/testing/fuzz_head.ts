/**
 * Fuzz properties for the HTTP request-head parser (src/http/head.ts) and
 * the upgrade validator (src/ws/handshake.ts): random and mutated heads end
 * in a parsed head that keeps every invariant, or an HttpError with a 4xx or
 * 505 status; nothing else is thrown.
 * @module
 */
import fc from "fast-check";
import { applyEdits, type ByteEdit, byteEdits } from "./fuzz_edits.ts";
import { findHeadEnd, HttpError, parseRequestHead, type RequestHead } from "../../src/http/head.ts";
import { isUpgradeRequest, validateUpgrade } from "../../src/ws/handshake.ts";

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible characters, obs-text, space and tab only (RFC 9110 §5.5).
// The parser decodes as WHATWG "latin1" (windows-1252), so obs-text may land above U+00FF.
const FIELD_VALUE = /^[\t\x20-\x7e\u0080-\uffff]*$/;
// Request target: visible ASCII and obs-text, no spaces or controls (RFC 9112 §3.2).
const REQUEST_TARGET = /^[\x21-\x7e\u0080-\uffff]+$/;

/** Limits the parser runs with, as in the defaults (16 KiB, 100 headers). */
export const LIMITS = { maxHeadBytes: 16384, maxHeaders: 100 } as const;

const methods = fc.constantFrom(
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "CONNECT",
  "OPTIONS",
  "TRACE",
  "get",
  "G ET",
  "",
  "GET\t",
  "\x00GET",
  "GÉT",
  "PRI",
);
const targets = fc.oneof(
  fc.constantFrom(
    "/",
    "/websockify",
    "/websockify?token=abc",
    "/?token=a&token=b",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/..%2f..%2f",
    "http://evil.example:22/",
    "evil.example:22",
    "*",
    "//evil.example/x",
    "/a b",
    "/a\tb",
    "/a\x1b[31mred",
    "/a\rb",
    "/?%zz",
    "",
  ),
  fc.string({ unit: "binary-ascii", maxLength: 40 }),
  fc.string({ maxLength: 40 }).map((s) => "/" + s),
);
const versions = fc.constantFrom(
  "HTTP/1.1",
  "HTTP/1.0",
  "HTTP/1.1",
  "HTTP/2",
  "HTTP/2.0",
  "HTTP/0.9",
  "http/1.1",
  "HTTP/1.10",
  "HTTP/1.1 ",
  "HTTP/1.1\t",
  "",
  "HTTP/1.1\x00",
);
const spaces = fc.constantFrom(" ", " ", " ", "  ", "\t", "");

const headerNames = fc.oneof(
  fc.constantFrom(
    "Host",
    "host",
    "HOST",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Protocol",
    "Content-Length",
    "Transfer-Encoding",
    "Origin",
    "X-Forwarded-For",
    "Forwarded",
    "Authorization",
    "Cookie",
    "SSL_CLIENT_S_DN_CN",
    "Host ",
    " Host",
    "Ho st",
    "Hóst",
    "",
  ),
  fc.string({ unit: "binary-ascii", maxLength: 12 }),
);
const headerValues = fc.oneof(
  fc.constantFrom(
    "127.0.0.1:6080",
    "websocket",
    "Upgrade",
    "keep-alive, Upgrade",
    "dGhlIHNhbXBsZSBub25jZQ==",
    "13",
    "8",
    "binary, base64",
    "0",
    "5",
    "-1",
    "chunked",
    "chunked, identity",
    " chunked",
    "http://evil.example",
    "Basic dXNlcjpwYXNz",
    "a\rb",
    "a\x00b",
    "a\x1bb",
    "",
  ),
  fc.string({ unit: "binary-ascii", maxLength: 30 }),
  fc.nat(20000).map((n) => "x".repeat(n)),
);
const eols = fc.constantFrom("\r\n", "\r\n", "\r\n", "\n", "\r", "\n\r", "\r\r\n");

/** A structured head: request line, header lines, each with its own line ending. */
export const headText = fc.record({
  method: methods,
  sp1: spaces,
  target: targets,
  sp2: spaces,
  version: versions,
  eol: eols,
  headers: fc.array(
    fc.record({
      fold: fc.constantFrom("", "", "", "", " ", "\t"),
      name: headerNames,
      sep: fc.constantFrom(":", ": ", ":\t", " : ", "", "::"),
      value: headerValues,
      eol: eols,
    }),
    { maxLength: 12 },
  ),
  many: fc.constantFrom(0, 0, 0, 0, 99, 100, 101, 200),
  end: fc.constantFrom("\r\n", "\r\n", "\n", ""),
}).map((h) => {
  let s = `${h.method}${h.sp1}${h.target}${h.sp2}${h.version}${h.eol}`;
  for (const x of h.headers) s += `${x.fold}${x.name}${x.sep}${x.value}${x.eol}`;
  for (let i = 0; i < h.many; i++) s += `X-Filler-${i}: ${i}\r\n`;
  return s + h.end;
});

/** Latin-1 bytes of a string (what a client would put on the wire). */
export function latin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** Statuses a refused head may get. */
export const HEAD_STATUSES: ReadonlySet<number> = new Set([400, 408, 413, 414, 431, 505]);
/** Statuses a refused upgrade may get. */
export const UPGRADE_STATUSES: ReadonlySet<number> = new Set([400, 403, 405, 426]);

function check(ok: boolean, what: string, head: RequestHead): void {
  if (!ok) {
    throw new Error(
      `parsed head breaks an invariant: ${what}: ${
        JSON.stringify({ ...head, headers: [...head.headers], query: String(head.query) })
          .slice(0, 600)
      }`,
    );
  }
}

/**
 * Runs the session's order on `bytes`: find the head end, parse, then
 * classify and validate an upgrade. Returns the outcome's status (200 for
 * a head that parsed and was not refused, 0 for an incomplete head).
 */
export function runHead(bytes: Uint8Array): number {
  const end = findHeadEnd(bytes);
  if (end > bytes.length) throw new Error(`findHeadEnd past the buffer: ${end}`);
  // Incremental search must agree with a whole-buffer search (the session feeds chunks).
  for (const k of [1, 2, 3, Math.floor(bytes.length / 2), bytes.length - 1]) {
    if (k <= 0 || k >= bytes.length || findHeadEnd(bytes.subarray(0, k)) >= 0) continue;
    const inc = findHeadEnd(bytes, k);
    if (inc !== end) throw new Error(`findHeadEnd(from ${k}) = ${inc}, whole = ${end}`);
  }
  const head = end < 0 ? bytes : bytes.subarray(0, end);
  let parsed: RequestHead;
  try {
    parsed = parseRequestHead(head, LIMITS);
  } catch (e) {
    if (!(e instanceof HttpError)) throw e;
    if (!HEAD_STATUSES.has(e.status)) {
      throw new Error(`unexpected status ${e.status}: ${e.message}`);
    }
    return e.status;
  }
  check(head.length <= LIMITS.maxHeadBytes, "head larger than the limit", parsed);
  check(parsed.headerCount <= LIMITS.maxHeaders, "more headers than the limit", parsed);
  check(TOKEN.test(parsed.method), "method is not a token", parsed);
  check(parsed.version === "HTTP/1.1" || parsed.version === "HTTP/1.0", "version", parsed);
  check(REQUEST_TARGET.test(parsed.target), "request target has spaces or controls", parsed);
  check(parsed.target.startsWith(parsed.path), "path is not a prefix of the target", parsed);
  for (const [k, v] of parsed.headers) {
    check(TOKEN.test(k) && k === k.toLowerCase(), `header name ${JSON.stringify(k)}`, parsed);
    check(FIELD_VALUE.test(v), `header ${k} value has a control character`, parsed);
    check(v === v.trim(), `header ${k} value not trimmed`, parsed);
  }
  if (!isUpgradeRequest(parsed)) return 200;
  try {
    validateUpgrade(parsed);
  } catch (e) {
    if (!(e instanceof HttpError)) throw e;
    if (!UPGRADE_STATUSES.has(e.status)) {
      throw new Error(`unexpected upgrade status ${e.status}: ${e.message}`);
    }
    return e.status;
  }
  return 101;
}

/** Structured random heads. */
export const headStructured: fc.IPropertyWithHooks<[string]> = fc.property(headText, (s) => {
  runHead(latin1(s));
});

/** Structured heads with random byte edits (flip, insert, delete). */
export const headMutated: fc.IPropertyWithHooks<[string, ByteEdit[]]> = fc
  .property(
    headText,
    byteEdits(8),
    (s, edits) => void runHead(applyEdits(latin1(s), edits)),
  );

/** Arbitrary bytes, ended with a blank line half of the time. */
export const headRandomBytes: fc.IPropertyWithHooks<[Uint8Array, boolean]> = fc.property(
  fc.uint8Array({ maxLength: 400 }),
  fc.boolean(),
  (bytes, terminate) => {
    if (!terminate) return void runHead(bytes);
    const b = new Uint8Array(bytes.length + 4);
    b.set(bytes);
    b.set([13, 10, 13, 10], bytes.length);
    runHead(b);
  },
);
