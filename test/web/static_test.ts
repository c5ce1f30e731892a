import { parseRequestHead } from "../../src/http/head.ts";
import type { HttpResponse } from "../../src/http/response.ts";
import { createWebHandler, type WebHandlerOptions } from "../../src/web/static.ts";
import type { ViewerSettingsPair } from "../../src/web/viewer_settings.ts";

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}
function assertEquals<T>(actual: T, expected: T, msg = "") {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${msg} expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function head(method: string, target: string, headers: Record<string, string> = {}) {
  let raw = `${method} ${target} HTTP/1.1\r\nHost: x\r\n`;
  for (const [k, v] of Object.entries(headers)) raw += `${k}: ${v}\r\n`;
  return parseRequestHead(enc.encode(raw + "\r\n"), { maxHeadBytes: 16384, maxHeaders: 100 });
}

function bodyText(res: HttpResponse): string {
  return typeof res.body === "string" ? res.body : dec.decode(res.body ?? new Uint8Array());
}

/** A web root with files, a subdir, a secret outside it and symlinks out. */
async function fixture() {
  const base = await Deno.makeTempDir({ prefix: "vncws-web-" });
  const root = `${base}/root`;
  await Deno.mkdir(`${root}/sub/deeper`, { recursive: true });
  await Deno.mkdir(`${root}/withindex`);
  await Deno.writeTextFile(`${base}/secret.txt`, "TOP SECRET");
  await Deno.writeTextFile(`${root}/hello.txt`, "hello world\n");
  await Deno.writeTextFile(`${root}/app.js`, "export const x = 1;\n");
  await Deno.writeTextFile(`${root}/style.css`, "body{}\n");
  await Deno.writeTextFile(`${root}/page.html`, "<p>hi</p>\n");
  await Deno.writeFile(`${root}/blob.bin`, new Uint8Array([1, 2, 3]));
  await Deno.writeTextFile(`${root}/sub/a.txt`, "a\n");
  await Deno.writeTextFile(`${root}/withindex/index.html`, "<p>index</p>\n");
  await Deno.writeTextFile(`${root}/.hidden`, "hidden\n");
  await Deno.writeTextFile(`${root}/%2e%2e`, "literal percent name\n");
  await Deno.symlink(`${base}/secret.txt`, `${root}/link-out.txt`);
  await Deno.symlink(base, `${root}/dir-out`);
  await Deno.symlink(`${root}/hello.txt`, `${root}/link-in.txt`);
  await Deno.symlink(`${base}/secret.txt`, `${root}/sub/deeper/index.html`);
  return { base, root, cleanup: () => Deno.remove(base, { recursive: true }) };
}

async function withRoot(
  fn: (
    web: (m: string, t: string, h?: Record<string, string>) => Promise<HttpResponse>,
  ) => Promise<void>,
  options: Partial<WebHandlerOptions> = {},
) {
  const f = await fixture();
  try {
    const handler = createWebHandler({ root: f.root, dirListing: false, ...options });
    await fn((m, t, h) => handler(head(m, t, h)));
  } finally {
    await f.cleanup();
  }
}

Deno.test("web: traversal probes never leave the root", async () => {
  await withRoot(async (web) => {
    const probes = [
      "/../../etc/passwd",
      "/../secret.txt",
      "/%2e%2e/%2e%2e/etc/passwd",
      "/%2e%2e/secret.txt",
      "/..%2fsecret.txt",
      "/..%2fetc%2fpasswd",
      "/sub/..%2f..%2fsecret.txt",
      "/%252e%252e/secret.txt",
      "/%252e%252e%252fsecret.txt",
      "/..\\secret.txt",
      "/..%5csecret.txt",
      "/hello.txt%00.html",
      "/sub/%2E%2E/%2E%2E/secret.txt",
      "/link-out.txt",
      "/dir-out/secret.txt",
      "/sub/deeper/",
      "http://x/../secret.txt",
      "/./hello.txt",
    ];
    for (const p of probes) {
      const res = await web("GET", p);
      assert(
        res.status === 403 || res.status === 404 || res.status === 400,
        `${p} answered ${res.status}`,
      );
      assert(!bodyText(res).includes("TOP SECRET"), `${p} leaked the secret`);
      assert(!bodyText(res).includes("root:"), `${p} leaked /etc/passwd`);
    }
    // A literal file named "%2e%2e" is reachable only by double encoding, and stays inside.
    const lit = await web("GET", "/%252e%252e");
    assertEquals([lit.status, bodyText(lit)], [200, "literal percent name\n"], "literal name");
  });
});

Deno.test("web: files, content types, symlink inside root, hidden files", async () => {
  await withRoot(async (web) => {
    const cases: Array<[string, string]> = [
      ["/hello.txt", "text/plain; charset=utf-8"],
      ["/app.js", "text/javascript; charset=utf-8"],
      ["/style.css", "text/css; charset=utf-8"],
      ["/page.html", "text/html; charset=utf-8"],
      ["/blob.bin", "application/octet-stream"],
      ["/link-in.txt", "text/plain; charset=utf-8"],
    ];
    for (const [p, type] of cases) {
      const res = await web("GET", p);
      assertEquals(res.status, 200, p);
      assertEquals(res.headers?.["Content-Type"], type, p);
      const len = typeof res.body === "string" ? enc.encode(res.body).length : res.body!.length;
      assertEquals(res.headers?.["Content-Length"], String(len), `${p} Content-Length`);
      assertEquals(res.headers?.["X-Content-Type-Options"], "nosniff", p);
      assertEquals(res.headers?.["X-Frame-Options"], "SAMEORIGIN", p);
      assertEquals(res.headers?.["Referrer-Policy"], "no-referrer", p);
      assert(res.headers?.["Cache-Control"], `${p} Cache-Control`);
    }
    assertEquals(bodyText(await web("GET", "/hello.txt?x=1")), "hello world\n", "query ignored");
    assertEquals((await web("GET", "/.hidden")).status, 404, "dotfile");
    assertEquals((await web("GET", "/missing.txt")).status, 404, "missing");
    assertEquals((await web("GET", "/hello.txt/")).status, 404, "file with trailing slash");
  });
});

Deno.test("web: directories redirect, index.html, listing only when asked", async () => {
  await withRoot(async (web) => {
    const r = await web("GET", "/sub?a=1");
    assertEquals([r.status, r.headers?.Location], [301, "/sub/?a=1"], "301 to slash");
    const open = await web("GET", "//evil.example/sub");
    assert(open.status !== 301 || !open.headers?.Location?.startsWith("//"), "open redirect");
    assertEquals((await web("GET", "/sub/")).status, 404, "listing off by default");
    const idx = await web("GET", "/withindex/");
    assertEquals([idx.status, bodyText(idx)], [200, "<p>index</p>\n"], "index.html");
    assertEquals((await web("GET", "/withindex")).status, 301, "index dir without slash");
  });
  await withRoot(async (web) => {
    const l = await web("GET", "/sub/");
    assertEquals(l.status, 200, "listing on");
    assert(bodyText(l).includes('href="a.txt"'), "listing names a.txt");
    assert(bodyText(l).includes('href="deeper/"'), "listing names deeper/");
    const top = bodyText(await web("GET", "/"));
    assert(!top.includes(".hidden"), "listing hides dotfiles");
  }, { dirListing: true });
});

Deno.test("web: ETag and Last-Modified give 304, HEAD keeps headers", async () => {
  await withRoot(async (web) => {
    const first = await web("GET", "/hello.txt");
    const etag = first.headers?.ETag;
    const lm = first.headers?.["Last-Modified"];
    assert(etag && lm, "validators present");
    const again = await web("GET", "/hello.txt", { "If-None-Match": etag });
    assertEquals([again.status, again.body?.length ?? 0], [304, 0], "If-None-Match");
    const other = await web("GET", "/hello.txt", { "If-None-Match": '"nope"' });
    assertEquals(other.status, 200, "other ETag");
    const ims = await web("GET", "/hello.txt", { "If-Modified-Since": lm });
    assertEquals(ims.status, 304, "If-Modified-Since");
    const old = await web("GET", "/hello.txt", {
      "If-Modified-Since": new Date(0).toUTCString(),
    });
    assertEquals(old.status, 200, "modified since 1970");
    const h = await web("HEAD", "/hello.txt");
    assertEquals([h.status, h.headers?.["Content-Length"]], [200, "12"], "HEAD");
    assertEquals(h.headers?.ETag, etag, "HEAD ETag");
  });
});

Deno.test("web: only GET and HEAD; web server off answers 405", async () => {
  await withRoot(async (web) => {
    for (const m of ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"]) {
      const res = await web(m, "/hello.txt");
      assertEquals([res.status, res.headers?.Allow], [405, "GET, HEAD"], m);
    }
  });
  const off = createWebHandler({ root: null, dirListing: false });
  assertEquals((await off(head("GET", "/vnc.html"))).status, 405, "GET with web off");
  assertEquals((await off(head("HEAD", "/"))).status, 405, "HEAD with web off");
});

Deno.test("web: frame options configurable", async () => {
  await withRoot(async (web) => {
    assertEquals((await web("GET", "/hello.txt")).headers?.["X-Frame-Options"], "DENY", "DENY");
  }, { frameOptions: "DENY" });
  await withRoot(async (web) => {
    assert(!("X-Frame-Options" in (await web("GET", "/hello.txt")).headers!), "omitted");
  }, { frameOptions: "" });
});

Deno.test("web: bundled viewer serves vnc.html, noVNC's core and vendor, and redirects /", async () => {
  const web = createWebHandler({ root: "", dirListing: false });
  const get = (t: string, h?: Record<string, string>) => web(head("GET", t, h));
  const root = await get("/");
  assertEquals(
    [root.status, root.headers?.Location],
    [302, "vnc.html?autoconnect=1&path=websockify"],
    "/",
  );
  const tok = await get("/?token=ab%20c");
  assertEquals(tok.headers?.Location, "vnc.html?autoconnect=1&path=websockify&token=ab+c", "token");
  const custom = createWebHandler({ root: "", dirListing: false, wsPath: "/ws" });
  assertEquals(
    (await custom(head("GET", "/"))).headers?.Location,
    "vnc.html?autoconnect=1&path=ws",
    "wsPath",
  );

  const page = await get("/vnc.html");
  assertEquals(page.status, 200, "vnc.html");
  assertEquals(page.headers?.["Content-Type"], "text/html; charset=utf-8", "vnc.html type");
  assert(bodyText(page).includes('id="status"'), "vnc.html has #status");
  const csp = page.headers?.["Content-Security-Policy"] ?? "";
  assert(csp.includes("script-src 'self'") && !csp.includes("unsafe"), `CSP: ${csp}`);
  const rfb = await get("/core/rfb.js");
  assertEquals(
    [rfb.status, rfb.headers?.["Content-Type"]],
    [200, "text/javascript; charset=utf-8"],
    "rfb.js",
  );
  assert(bodyText(rfb).includes("export default class RFB"), "rfb.js is noVNC's RFB");
  assertEquals((await get("/vendor/pako/lib/zlib/inflate.js")).status, 200, "vendor");
  assertEquals((await get("/vnc.js")).status, 200, "vnc.js");
  assertEquals((await get("/vnc.css")).status, 200, "vnc.css");
  assertEquals((await get("/vnc_lite.html")).status, 200, "vnc_lite.html alias");
  const etag = rfb.headers!.ETag;
  assertEquals((await get("/core/rfb.js", { "If-None-Match": etag })).status, 304, "bundled 304");
  for (
    const p of [
      "/core/",
      "/core",
      "/package.json",
      "/core/../package.json",
      "/docs/API.md",
      "/../deno.json",
    ]
  ) {
    const s = (await get(p)).status;
    assert(s === 404 || s === 403, `${p} answered ${s}`);
  }
});

Deno.test("static: the viewer's CSP lets it connect to its own origin only, unless the operator names another", async () => {
  const cspOf = async (viewerSettings?: () => ViewerSettingsPair) => {
    const h = createWebHandler({ root: "", dirListing: false, viewerSettings });
    return (await h(head("GET", "/vnc.html"))).headers?.["Content-Security-Policy"] ?? "";
  };
  const own = await cspOf();
  assert(own.includes("connect-src 'self';"), own);
  assert(!/\bwss?:/.test(own), `no other WebSocket origin: ${own}`);
  const named = await cspOf(() => ({
    defaults: {},
    mandatory: { host: "vnc.example", port: 6081 },
  }));
  assert(named.includes("connect-src 'self' ws://vnc.example:6081 wss://vnc.example:6081"), named);
  const v6 = await cspOf(() => ({ defaults: { host: "::1" }, mandatory: {} }));
  assert(v6.includes("wss://[::1]:*"), v6);
  // Negative: a value that would change the policy's meaning is not put into it.
  const bad = await cspOf(() => ({ defaults: { host: "x; script-src *" }, mandatory: {} }));
  assert(bad.includes("connect-src 'self';") && !bad.includes("script-src *"), bad);
});
