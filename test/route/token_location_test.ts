import assert from "node:assert/strict";
import { HttpError, parseRequestHead, type RequestHead } from "../../src/http/head.ts";
import { extractToken, hostPart } from "../../src/route/token_location.ts";

function head(target: string, headers: Record<string, string> = {}): RequestHead {
  let text = `GET ${target} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(headers)) text += `${k}: ${v}\r\n`;
  return parseRequestHead(new TextEncoder().encode(text + "\r\n"), {
    maxHeadBytes: 16384,
    maxHeaders: 100,
  });
}

const plain = { hostToken: false };

Deno.test("query token, websockify style, trailing newlines stripped", () => {
  assert.equal(extractToken(head("/websockify?token=abc"), plain), "abc");
  assert.equal(extractToken(head("/?x=1&token=a%2Fb"), plain), "a/b");
  assert.equal(extractToken(head("/?token=abc%0A%0A"), plain), "abc");
  assert.equal(extractToken(head("/?token="), plain), undefined);
  assert.equal(extractToken(head("/websockify"), plain), undefined);
});

Deno.test("path segment token, percent-decoded, configurable prefix", () => {
  assert.equal(extractToken(head("/websockify/abc"), plain), "abc");
  assert.equal(extractToken(head("/websockify/a%20b/"), plain), "a b");
  assert.equal(extractToken(head("/websockify/"), plain), undefined);
  assert.equal(extractToken(head("/other/abc"), plain), undefined);
  assert.equal(extractToken(head("/vnc/t1"), { hostToken: false, pathPrefix: "/vnc" }), "t1");
  assert.equal(
    extractToken(head("/websockify/t1"), { hostToken: false, pathPrefix: "vnc/" }),
    undefined,
  );
  assert.throws(
    () => extractToken(head("/websockify/%E0%A4%A"), plain),
    (e) => e instanceof HttpError && e.status === 400,
  );
});

Deno.test("cookie token", () => {
  assert.equal(extractToken(head("/", { Cookie: "a=1; token=xyz; b=2" }), plain), "xyz");
  assert.equal(extractToken(head("/", { Cookie: 'token="q%3Dr"' }), plain), "q=r");
  assert.equal(extractToken(head("/", { Cookie: "mytoken=no" }), plain), undefined);
  assert.equal(extractToken(head("/", { Cookie: "token=%zz" }), plain), "%zz");
});

Deno.test("order: query, then path, then cookie", () => {
  const h = head("/websockify/p?token=q", { Cookie: "token=c" });
  assert.equal(extractToken(h, plain), "q");
  assert.equal(extractToken(head("/websockify/p", { Cookie: "token=c" }), plain), "p");
});

Deno.test("host token takes precedence and is IPv6-literal safe", () => {
  const opts = { hostToken: true };
  assert.equal(
    extractToken(head("/?token=q", { Host: "desk1.example.com:6080" }), opts),
    "desk1.example.com",
  );
  assert.equal(extractToken(head("/", { Host: "[::1]:6080" }), opts), "::1");
  assert.equal(extractToken(head("/", { Host: "[fe80::1]" }), opts), "fe80::1");
  assert.equal(extractToken(head("/", { Host: "desk2" }), opts), "desk2");
  // No Host header: fall back to the other sources.
  assert.equal(extractToken(head("/?token=q"), opts), "q");
  // Without --host-token the Host header is never a token.
  assert.equal(extractToken(head("/", { Host: "desk1:6080" }), plain), undefined);
  assert.equal(hostPart("::1"), "::1");
  assert.equal(hostPart("[::1"), "");
});
