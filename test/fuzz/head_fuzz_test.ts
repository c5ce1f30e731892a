/**
 * Fast fuzz subset for the HTTP head parser and upgrade validator, plus the
 * bugs the fuzzer found, as plain cases.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  headMutated,
  headRandomBytes,
  headStructured,
  latin1,
  LIMITS,
  runHead,
} from "../../scripts/testing/fuzz_head.ts";
import { fuzzParams } from "../../scripts/testing/fuzz_registry.ts";
import { HttpError, parseRequestHead } from "../../src/http/head.ts";

Deno.test("fuzz: structured heads parse with every invariant or get 4xx/505", () => {
  fc.assert(headStructured, fuzzParams(2000));
});

Deno.test("fuzz: mutated heads parse with every invariant or get 4xx/505", () => {
  fc.assert(headMutated, fuzzParams(1500));
});

Deno.test("fuzz: random bytes as a head get 4xx/505 or parse", () => {
  fc.assert(headRandomBytes, fuzzParams(1500));
});

function status(text: string): number {
  try {
    parseRequestHead(latin1(text), LIMITS);
    return 200;
  } catch (e) {
    if (e instanceof HttpError) return e.status;
    throw e;
  }
}

Deno.test("head: control characters in the request target or a header value → 400", () => {
  // Found by the fuzzer: these were accepted, and an ESC in the path reached the text log raw.
  assert.equal(status("GET /a\x1b[2Jb HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
  assert.equal(status("GET \x0b HTTP/1.1\r\n\r\n"), 400);
  assert.equal(status("GET\t/ HTTP/1.1\r\n\r\n"), 400);
  assert.equal(status("GET / HTTP/1.1\r\nHost: a\rX-Evil: 1\r\n\r\n"), 400);
  assert.equal(status("GET / HTTP/1.1\r\nOrigin: \x01\r\n\r\n"), 400);
  assert.equal(status("GET / HTTP/1.1\r\nX: a\x7fb\r\n\r\n"), 400);
  // What stays accepted: tabs and obs-text in values, LF-only line ends.
  assert.equal(status("GET /?a=%00 HTTP/1.1\r\nX: a\tb\xe9\r\n\r\n"), 200);
  assert.equal(status("GET / HTTP/1.1\nHost: x\n\n"), 200);
});

Deno.test("head: smuggling shapes are refused or harmless", () => {
  assert.equal(status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
  assert.equal(status("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), 400);
  assert.equal(status("GET / HTTP/1.1\r\nHost: a\r\n Host: b\r\n\r\n"), 400);
  assert.equal(status("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 400);
  assert.equal(status("GET / HTTP/2.0\r\n\r\n"), 505);
  // TE + CL parses (vncws never reads a body and forwards no HTTP), and an
  // upgrade with it is still judged on its WebSocket headers alone.
  assert.equal(
    runHead(latin1(
      "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
    )),
    101,
  );
});
