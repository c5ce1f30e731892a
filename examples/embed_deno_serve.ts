/**
 * vncws inside your own `Deno.serve` app: the app serves its portal page on
 * `/` and hands `/websockify` to vncws, which relays it to one VNC server.
 *
 *     deno run -A examples/embed_deno_serve.ts 8080 127.0.0.1:5900
 *
 * @module
 */
import { parseHostPort, parsePort } from "../src/net/address.ts";
import { vncwsHandler } from "../mod.ts";

const [portText, targetText] = Deno.args;
if (!portText || !targetText) {
  console.error("usage: deno run -A examples/embed_deno_serve.ts PORT TARGET_HOST:PORT");
  Deno.exit(2);
}
const port = parsePort(portText);
const target = parseHostPort(targetText);

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>Portal</title>
<h1>Portal</h1>
<p>This page is the app's own; the desktop is one WebSocket away.</p>
<p><button id="open">Open the desktop connection</button> <span id="status"></span></p>
<script>
  document.getElementById("open").onclick = () => {
    const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/websockify", ["binary"]);
    ws.binaryType = "arraybuffer";
    ws.onmessage = (ev) => {
      document.getElementById("status").textContent =
        "server says: " + new TextDecoder().decode(ev.data).trim();
      ws.close();
    };
    ws.onerror = () => document.getElementById("status").textContent = "connection failed";
  };
</script>
`;

const websockify = vncwsHandler({
  // Every request of /websockify goes to the one target; an app would pick
  // it per user here (or return a refusal, e.g. refusal("auth", 401, ...)).
  route: () => ({ kind: "tcp", hostname: target.hostname, port: target.port }),
});

Deno.serve({
  port,
  hostname: "127.0.0.1",
  onListen: ({ port }) => console.log(`portal listening on http://127.0.0.1:${port}/`),
}, (request, info) => {
  const path = new URL(request.url).pathname;
  if (path === "/websockify") return websockify(request, info);
  if (path === "/") {
    return new Response(PAGE, { headers: { "Content-Type": "text/html; charset=utf-8" } });
  }
  return new Response("not found\n", { status: 404 });
});
