/**
 * Gzip of static answers: Accept-Encoding parsing, the bounded cache of
 * compressed bodies, and the web handler's answers with and without gzip
 * (bundled viewer and --web DIR): Content-Encoding, Vary, Content-Length,
 * ETag per representation, 304 and HEAD.
 */
import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { parseRequestHead } from "../../src/http/head.ts";
import type { HttpResponse } from "../../src/http/response.ts";
import { acceptsGzip, compressible, gzip, GzipCache } from "../../src/web/gzip.ts";
import { createWebHandler, GZIP_MIN_BYTES } from "../../src/web/static.ts";
import { tempDir } from "../../scripts/testing/util.ts";

const enc = new TextEncoder();

function head(method: string, target: string, headers: Record<string, string> = {}) {
  let raw = `${method} ${target} HTTP/1.1\r\nHost: x\r\n`;
  for (const [k, v] of Object.entries(headers)) raw += `${k}: ${v}\r\n`;
  return parseRequestHead(enc.encode(raw + "\r\n"), { maxHeadBytes: 16384, maxHeaders: 100 });
}

function bytes(res: HttpResponse): Uint8Array {
  return typeof res.body === "string" ? enc.encode(res.body) : res.body ?? new Uint8Array();
}

Deno.test("gzip: Accept-Encoding admits gzip by name, x-gzip or *, never with q=0", () => {
  for (const yes of ["gzip", "gzip, deflate, br", "br;q=1, gzip;q=0.5", "x-gzip", "*", "GZIP"]) {
    assert.ok(acceptsGzip(yes), yes);
  }
  for (
    const no of [undefined, "", "identity", "br, deflate", "gzip;q=0", "*;q=0", "gzip;q=0, *"]
  ) {
    assert.ok(!acceptsGzip(no), String(no));
  }
});

Deno.test("gzip: text types are compressible, images, fonts and bytes are not", () => {
  for (
    const t of [
      "text/html; charset=utf-8",
      "text/javascript; charset=utf-8",
      "text/css; charset=utf-8",
      "application/json",
      "image/svg+xml",
    ]
  ) assert.ok(compressible(t), t);
  for (const t of ["image/png", "font/woff2", "application/octet-stream", "application/wasm"]) {
    assert.ok(!compressible(t), t);
  }
});

Deno.test("gzip: the cache returns what it compressed and stays within its byte budget", async () => {
  const text = (n: number) => enc.encode(`line ${n}\n`.repeat(2000));
  const one = await gzip(text(1));
  const cache = new GzipCache(one.length * 2 + 10);
  assert.deepEqual(gunzipSync(await cache.get("a", text(1))), Buffer.from(text(1)));
  await cache.get("b", text(2));
  assert.ok(cache.bytes <= cache.maxBytes);
  await cache.get("c", text(3)); // evicts "a", the least recently used
  assert.ok(cache.bytes <= cache.maxBytes, `${cache.bytes} > ${cache.maxBytes}`);
  // A body larger than the whole budget is compressed but not kept.
  const tiny = new GzipCache(10);
  assert.ok((await tiny.get("x", text(4))).length > 10);
  assert.equal(tiny.bytes, 0);
});

Deno.test("web: bundled viewer files are gzipped only for clients that accept it", async () => {
  const web = createWebHandler({ root: "", dirListing: false });
  for (const path of ["/vnc.js", "/vnc.html", "/vnc.css", "/core/rfb.js"]) {
    const plain = await web(head("GET", path));
    const zipped = await web(head("GET", path, { "Accept-Encoding": "gzip, deflate, br" }));
    assert.equal(plain.status, 200, path);
    assert.equal(zipped.status, 200, path);
    assert.equal(plain.headers?.["Content-Encoding"], undefined, `${path} plain`);
    assert.equal(zipped.headers?.["Content-Encoding"], "gzip", `${path} gzip`);
    assert.equal(plain.headers?.Vary, "Accept-Encoding", `${path} plain Vary`);
    assert.equal(zipped.headers?.Vary, "Accept-Encoding", `${path} gzip Vary`);
    assert.equal(Number(plain.headers?.["Content-Length"]), bytes(plain).length, path);
    assert.equal(Number(zipped.headers?.["Content-Length"]), bytes(zipped).length, path);
    assert.ok(bytes(zipped).length < bytes(plain).length / 2, `${path} barely shrank`);
    assert.deepEqual(gunzipSync(bytes(zipped)), Buffer.from(bytes(plain)), `${path} round trip`);
    assert.notEqual(zipped.headers?.ETag, plain.headers?.ETag, `${path}: one ETag per form`);
    // The same compressed body again (from the cache), and HEAD says its length.
    const again = await web(head("GET", path, { "Accept-Encoding": "gzip" }));
    assert.deepEqual(bytes(again), bytes(zipped));
    const h = await web(head("HEAD", path, { "Accept-Encoding": "gzip" }));
    assert.equal(h.headers?.["Content-Length"], zipped.headers?.["Content-Length"], `${path} HEAD`);
    assert.equal(h.headers?.["Content-Encoding"], "gzip");
    // Each form revalidates with its own tag only.
    const etag = zipped.headers!.ETag;
    const hit = await web(head("GET", path, { "Accept-Encoding": "gzip", "If-None-Match": etag }));
    assert.equal(hit.status, 304, `${path} 304`);
    assert.equal(hit.headers?.Vary, "Accept-Encoding");
    assert.equal(bytes(hit).length, 0);
    assert.equal((await web(head("GET", path, { "If-None-Match": etag }))).status, 200);
  }
});

Deno.test("web: --web DIR gzips text for clients that accept it, not binaries or tiny files", async () => {
  using dir = tempDir();
  const big = "export const words = [" + '"vnc", '.repeat(500) + "];\n";
  Deno.writeTextFileSync(`${dir.path}/app.js`, big);
  Deno.writeTextFileSync(`${dir.path}/tiny.css`, "body{}\n");
  Deno.writeFileSync(`${dir.path}/pic.png`, new Uint8Array(4096));
  const web = createWebHandler({ root: dir.path, dirListing: false });
  const gz = { "Accept-Encoding": "gzip" };
  const app = await web(head("GET", "/app.js", gz));
  assert.equal(app.headers?.["Content-Encoding"], "gzip");
  assert.equal(app.headers?.Vary, "Accept-Encoding");
  assert.equal(gunzipSync(bytes(app)).toString(), big);
  assert.equal(Number(app.headers?.["Content-Length"]), bytes(app).length);
  const plain = await web(head("GET", "/app.js", { "Accept-Encoding": "identity" }));
  assert.equal(plain.headers?.["Content-Encoding"], undefined);
  assert.equal(new TextDecoder().decode(bytes(plain)), big);
  assert.ok("tiny.css".length < GZIP_MIN_BYTES);
  const tiny = await web(head("GET", "/tiny.css", gz));
  assert.equal(tiny.headers?.["Content-Encoding"], undefined, "tiny file");
  assert.equal(tiny.headers?.Vary, "Accept-Encoding", "tiny file: still a text type");
  const png = await web(head("GET", "/pic.png", gz));
  assert.equal(png.headers?.["Content-Encoding"], undefined, "png");
  assert.equal(png.headers?.Vary, undefined, "png");
  assert.equal(bytes(png).length, 4096);
  // An edited file is compressed afresh, not served from the cache.
  const edited = big.replace("vnc", "rfb");
  Deno.writeTextFileSync(`${dir.path}/app.js`, edited + "// longer\n");
  const after = await web(head("GET", "/app.js", gz));
  assert.equal(gunzipSync(bytes(after)).toString(), edited + "// longer\n");
});
