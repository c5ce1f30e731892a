import assert from "node:assert/strict";
import { findHeadEnd, HttpError, parseRequestHead } from "../../src/http/head.ts";

const LIMITS = { maxHeadBytes: 1024, maxHeaders: 5 };
const enc = (s: string) => new TextEncoder().encode(s);

function status(text: string): number {
  try {
    parseRequestHead(enc(text), LIMITS);
  } catch (e) {
    if (e instanceof HttpError) return e.status;
    throw e;
  }
  return 200;
}

Deno.test("findHeadEnd: CRLF, bare LF and incomplete heads", () => {
  assert.equal(findHeadEnd(enc("GET / HTTP/1.1\r\nA: b\r\n\r\nxyz")), 24);
  assert.equal(findHeadEnd(enc("GET / HTTP/1.1\nA: b\n\nxyz")), 21);
  assert.equal(findHeadEnd(enc("GET / HTTP/1.1\r\nA: b\r\n")), -1);
});

Deno.test("a head parses: method, path, query, lower-cased headers", () => {
  const h = parseRequestHead(
    enc("GET /websockify?token=abc&x=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\n"),
    LIMITS,
  );
  assert.equal(h.method, "GET");
  assert.equal(h.path, "/websockify");
  assert.equal(h.query.get("token"), "abc");
  assert.equal(h.headers.get("x-a"), "1, 2");
});

Deno.test("refusal reasons never repeat a request target or a header value (they may be secrets)", () => {
  const reason = (text: string) => {
    try {
      parseRequestHead(enc(text), LIMITS);
    } catch (e) {
      if (e instanceof HttpError) return e.message;
      throw e;
    }
    assert.fail("no error");
  };
  const line = reason("GET /websockify/s3cr3t-token HTTP/1.1 extra\r\n\r\n");
  assert.match(line, /malformed request line/);
  assert.ok(!line.includes("s3cr3t"), line);
  const header = reason("GET / HTTP/1.1\r\nAuthorization Basic c2VjcmV0\r\n\r\n");
  assert.match(header, /malformed header line/);
  assert.ok(!header.includes("c2VjcmV0"), header);
});

Deno.test("bad heads get their status", () => {
  assert.equal(status("GARBAGE\r\n\r\n"), 400);
  assert.equal(status("GET /\r\n\r\n"), 400);
  assert.equal(status("GET / HTTP/2.0\r\n\r\n"), 505);
  assert.equal(status("GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n"), 400);
  assert.equal(status("GET / HTTP/1.1\r\nBad Header: 1\r\n\r\n"), 400);
  assert.equal(status("GET / HTTP/1.1\r\nnocolon\r\n\r\n"), 400);
  assert.equal(status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
  assert.equal(status("GET / HTTP/1.1\r\nA: \0\r\n\r\n"), 400);
  assert.equal(status("GET / HTTP/1.1\r\n" + "A: 1\r\n".repeat(6) + "\r\n"), 431);
  assert.equal(status("GET / HTTP/1.1\r\nA: " + "x".repeat(2000) + "\r\n\r\n"), 431);
});
