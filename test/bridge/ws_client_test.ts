/**
 * The bridge's handshake pieces without sockets: the request it builds,
 * the checks on the answer, and the redaction of URLs for logs.
 */
import assert from "node:assert/strict";
import { acceptKey } from "../../src/ws/handshake.ts";
import {
  buildRequest,
  checkUpgradeAnswer,
  parseResponseHead,
  protocolList,
  redactUrl,
  WsClientError,
} from "../../src/bridge/ws_client.ts";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

Deno.test("buildRequest: IPv6 host, default port, path and query, no protocol header", () => {
  const req = buildRequest(new URL("ws://[::1]:8080/a/b?t=1"), KEY);
  assert.match(req, /^GET \/a\/b\?t=1 HTTP\/1\.1\r\nHost: \[::1\]:8080\r\n/);
  assert.doesNotMatch(req, /Sec-WebSocket-Protocol|Authorization|Origin|Cookie/);
  assert.ok(req.endsWith("\r\n\r\n"));
  const req2 = buildRequest(new URL("wss://console.example:443"), KEY);
  assert.match(req2, /^GET \/ HTTP\/1\.1\r\nHost: console\.example\r\n/);
});

Deno.test("buildRequest: userinfo is decoded for Basic auth; the option wins; -H replaces defaults", () => {
  const url = new URL("ws://us%40er:p%3Ass@h/");
  assert.match(buildRequest(url, KEY), new RegExp(`Authorization: Basic ${btoa("us@er:p:ss")}`));
  assert.match(
    buildRequest(url, KEY, { basicAuth: "a:b" }),
    new RegExp(`Authorization: Basic ${btoa("a:b")}\r\n`),
  );
  const req = buildRequest(new URL("ws://h/"), KEY, {
    headers: [["host", "other.example"], ["X-A", "1"]],
  });
  assert.equal(req.match(/^host:/gim)?.length, 1);
  assert.match(req, /\r\nhost: other\.example\r\n/);
});

function answer(lines: string[]) {
  return parseResponseHead(["HTTP/1.1 101 Switching Protocols", ...lines].join("\r\n"));
}

Deno.test("checkUpgradeAnswer: accept key, upgrade headers and subprotocol choice", () => {
  const good = [
    "Upgrade: websocket",
    "Connection: upgrade",
    `Sec-WebSocket-Accept: ${acceptKey(KEY)}`,
  ];
  checkUpgradeAnswer(answer(good), KEY, "u");
  checkUpgradeAnswer(answer([...good, "Sec-WebSocket-Protocol: vmware-vvc"]), KEY, "u", {
    protocols: "binary, vmware-vvc",
  });
  assert.throws(
    () => checkUpgradeAnswer(answer([...good, "Sec-WebSocket-Protocol: chat"]), KEY, "u"),
    /"chat", which was not offered \(none offered\)/,
  );
  assert.throws(
    () => checkUpgradeAnswer(answer(good), KEY, "u", { protocols: "binary" }),
    /accepted none of the offered subprotocols \(binary\)/,
  );
  checkUpgradeAnswer(answer(good), KEY, "u", { protocols: "binary", allowNoProtocol: true });
  assert.throws(() => checkUpgradeAnswer(answer(good.slice(1)), KEY, "u"), /Upgrade: websocket/);
  assert.throws(
    () => checkUpgradeAnswer(answer([good[0], good[1], "Sec-WebSocket-Accept: x"]), KEY, "u"),
    WsClientError,
  );
});

Deno.test("parseResponseHead: not HTTP is an error that shows the first line", () => {
  assert.throws(
    () => parseResponseHead("SSH-2.0-OpenSSH_9.2"),
    /did not answer with HTTP.*SSH-2\.0/,
  );
  const h = parseResponseHead("HTTP/1.0 403 Forbidden\r\nX-A: 1\r\nx-a: 2");
  assert.equal(h.status, 403);
  assert.equal(h.headers.get("x-a"), "1, 2");
});

Deno.test("redactUrl and protocolList", () => {
  assert.equal(redactUrl(new URL("wss://u:secret@h:8443/t/X?k=secret")), "wss://h:8443/t/X?…");
  assert.deepEqual(protocolList(" binary ,vmware-vvc,, "), ["binary", "vmware-vvc"]);
});
