import assert from "node:assert/strict";
import { HttpError, parseRequestHead } from "../../src/http/head.ts";
import {
  acceptKey,
  chooseProtocol,
  isUpgradeRequest,
  switchingProtocols,
  validateUpgrade,
} from "../../src/ws/handshake.ts";

const LIMITS = { maxHeadBytes: 16384, maxHeaders: 100 };
const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

function head(lines: string[], requestLine = "GET /websockify HTTP/1.1") {
  return parseRequestHead(
    new TextEncoder().encode([requestLine, ...lines, "", ""].join("\r\n")),
    LIMITS,
  );
}

const GOOD = [
  "Host: x",
  "Upgrade: websocket",
  "Connection: Upgrade",
  `Sec-WebSocket-Key: ${KEY}`,
  "Sec-WebSocket-Version: 13",
];

Deno.test("RFC 6455 sample key gives the sample accept value", () => {
  assert.equal(acceptKey(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
});

Deno.test("a good upgrade validates and the 101 carries the accept key", () => {
  const u = validateUpgrade(head(GOOD));
  assert.equal(u.protocol, undefined);
  const r = switchingProtocols(u);
  assert.match(r, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  assert.match(r, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/);
  assert.doesNotMatch(r, /Sec-WebSocket-Protocol/);
});

Deno.test("Connection and Upgrade tokens are case-insensitive lists", () => {
  const h = head([
    "Upgrade: WebSocket",
    "Connection: keep-alive, UPGRADE",
    `Sec-WebSocket-Key: ${KEY}`,
    "Sec-WebSocket-Version: 13",
  ]);
  assert.ok(isUpgradeRequest(h));
  assert.equal(validateUpgrade(h).version, 13);
});

Deno.test("versions 7 and 8 are accepted as websockify does", () => {
  for (const v of ["7", "8"]) {
    const lines = GOOD.map((l) =>
      l.startsWith("Sec-WebSocket-Version") ? `Sec-WebSocket-Version: ${v}` : l
    );
    assert.equal(validateUpgrade(head(lines)).version, Number(v));
  }
});

function status(fn: () => unknown): [number, Record<string, string>] {
  try {
    fn();
  } catch (e) {
    if (e instanceof HttpError) return [e.status, e.headers];
    throw e;
  }
  throw new Error("accepted");
}

Deno.test("handshake validation table: each bad request gets its status", () => {
  const without = (name: string) => GOOD.filter((l) => !l.startsWith(name));
  const table: Array<[string, () => unknown, number]> = [
    ["POST", () => validateUpgrade(head(GOOD, "POST / HTTP/1.1")), 405],
    ["HTTP/1.0", () => validateUpgrade(head(GOOD, "GET / HTTP/1.0")), 400],
    ["no Connection", () => validateUpgrade(head(without("Connection"))), 400],
    [
      "Connection: keep-alive",
      () => validateUpgrade(head([...without("Connection"), "Connection: keep-alive"])),
      400,
    ],
    ["no version", () => validateUpgrade(head(without("Sec-WebSocket-Version"))), 426],
    [
      "version 12",
      () =>
        validateUpgrade(head([...without("Sec-WebSocket-Version"), "Sec-WebSocket-Version: 12"])),
      426,
    ],
    ["no key", () => validateUpgrade(head(without("Sec-WebSocket-Key"))), 400],
    [
      "short key",
      () => validateUpgrade(head([...without("Sec-WebSocket-Key"), "Sec-WebSocket-Key: abc"])),
      400,
    ],
    ["duplicate key", () => head([...GOOD, `Sec-WebSocket-Key: ${KEY}`]), 400],
  ];
  for (const [name, fn, want] of table) assert.equal(status(fn)[0], want, name);
  assert.equal(
    status(() =>
      validateUpgrade(head(without("Sec-WebSocket-Version")))
    )[1]["Sec-WebSocket-Version"],
    "13",
  );
});

Deno.test("subprotocol: trimmed, binary preferred, else first, never unoffered", () => {
  assert.equal(chooseProtocol([]), undefined);
  assert.equal(chooseProtocol(["binary"]), "binary");
  assert.equal(chooseProtocol(["base64", "binary"]), "binary");
  assert.equal(chooseProtocol(["vmware-vvc", "binary"]), "binary");
  assert.equal(chooseProtocol(["base64"]), "base64");
  const u = validateUpgrade(head([...GOOD, "Sec-WebSocket-Protocol: base64,  binary "]));
  assert.deepEqual(u.offered, ["base64", "binary"]);
  assert.equal(u.protocol, "binary");
  assert.match(switchingProtocols(u), /Sec-WebSocket-Protocol: binary\r\n/);
});
