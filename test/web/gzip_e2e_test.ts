/**
 * Gzip against the real vncws process, seen by curl (which, unlike fetch,
 * sends no Accept-Encoding unless told and shows the bytes as they came):
 * the bundled viewer and a --web DIR, with and without gzip, GET and HEAD.
 */
import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { freePort, skipUnless, startVncws, tempDir } from "../../scripts/testing/util.ts";

interface Answer {
  headers: Map<string, string>;
  body: Uint8Array;
}

/** curl `url` (headers and body kept apart; `-I` for HEAD). */
async function curl(url: string, args: string[] = []): Promise<Answer> {
  using dir = tempDir();
  const out = await new Deno.Command("curl", {
    args: ["-sS", "-D", `${dir.path}/h`, "-o", `${dir.path}/b`, ...args, url],
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const headers = new Map<string, string>();
  for (const line of Deno.readTextFileSync(`${dir.path}/h`).split("\r\n").slice(1)) {
    const i = line.indexOf(":");
    if (i > 0) headers.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim());
  }
  let body = new Uint8Array();
  try {
    body = Deno.readFileSync(`${dir.path}/b`);
  } catch { /* nothing came after the head */ }
  return { headers, body };
}

async function withVncws(args: string[], fn: (base: string) => Promise<void>) {
  const port = freePort();
  const vncws = await startVncws([...args, `127.0.0.1:${port}`, "127.0.0.1:1"]);
  try {
    await fn(`http://127.0.0.1:${port}`);
  } finally {
    await vncws.stop();
  }
}

const GZ = ["-H", "Accept-Encoding: gzip"];

Deno.test({
  name: "e2e: the bundled viewer comes gzipped to a client that asks, plain to one that does not",
  ignore: skipUnless("curl", "apt-get install curl"),
  async fn() {
    await withVncws([], async (base) => {
      for (const path of ["/vnc.html", "/vnc.js", "/vnc.css", "/core/rfb.js"]) {
        const plain = await curl(base + path);
        const zipped = await curl(base + path, GZ);
        assert.equal(plain.headers.get("content-encoding"), undefined, path);
        assert.equal(zipped.headers.get("content-encoding"), "gzip", path);
        assert.equal(zipped.headers.get("vary"), "Accept-Encoding", path);
        assert.equal(plain.headers.get("vary"), "Accept-Encoding", path);
        assert.equal(Number(zipped.headers.get("content-length")), zipped.body.length, path);
        assert.equal(Number(plain.headers.get("content-length")), plain.body.length, path);
        assert.deepEqual(new Uint8Array(gunzipSync(zipped.body)), plain.body, path);
        const headOnly = await curl(base + path, ["-I", ...GZ]);
        assert.equal(headOnly.headers.get("content-length"), zipped.headers.get("content-length"));
        // With -I curl writes the head to -o too: it must end there, no body after it.
        const rest = new TextDecoder().decode(headOnly.body);
        assert.ok(rest.endsWith("\r\n\r\n") && !rest.includes("\x1f"), `${path}: HEAD body`);
        const headPlain = await curl(base + path, ["-I"]);
        assert.equal(headPlain.headers.get("content-length"), String(plain.body.length));
      }
      const page = await curl(`${base}/vnc.js`, GZ);
      assert.ok(page.body.length < 100_000, `vnc.js is ${page.body.length} B gzipped`);
    });
  },
});

Deno.test({
  name: "e2e: --web DIR gzips text files for a client that asks, never a PNG",
  ignore: skipUnless("curl", "apt-get install curl"),
  async fn() {
    using dir = tempDir();
    const text = "<p>" + "vncws ".repeat(400) + "</p>\n";
    Deno.writeTextFileSync(`${dir.path}/index.html`, text);
    Deno.writeFileSync(`${dir.path}/pic.png`, new Uint8Array(2048));
    await withVncws(["--web", dir.path], async (base) => {
      const zipped = await curl(`${base}/index.html`, GZ);
      assert.equal(zipped.headers.get("content-encoding"), "gzip");
      assert.equal(gunzipSync(zipped.body).toString(), text);
      const plain = await curl(`${base}/index.html`);
      assert.equal(plain.headers.get("content-encoding"), undefined);
      assert.equal(new TextDecoder().decode(plain.body), text);
      const png = await curl(`${base}/pic.png`, GZ);
      assert.equal(png.headers.get("content-encoding"), undefined);
      assert.equal(png.body.length, 2048);
    });
  },
});
