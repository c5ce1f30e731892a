/**
 * JWTTokenApi end to end: vncws as a real process, a real TCP target, tokens
 * minted by python's jwcrypto (what websockify verifies with) from a
 * websockify-format key file or a key pair whose public half a JWKS server
 * serves, and python websocket-client as the client.
 */
import assert from "node:assert/strict";
import {
  freePort,
  MAIN,
  type Proc,
  PYTHON,
  skipUnlessPython,
  startProcess,
  startVncws,
  tempDir,
} from "../../scripts/testing/util.ts";
import { startEchoTarget } from "../../scripts/testing/targets.ts";

const opts = {
  sanitizeOps: false,
  sanitizeResources: false,
  ignore: skipUnlessPython(
    ["jwcrypto", "websocket"],
    "apt-get install python3-jwcrypto python3-websocket",
  ),
};

/** Runs a python program with arguments; its stdout, or a failure with its output. */
async function python(code: string, args: string[]): Promise<string> {
  const p = startProcess(PYTHON, ["-c", code, ...args]);
  const status = await p.status;
  assert.ok(status.success, p.output());
  return p.output().trim();
}

/**
 * jwcrypto signs `claims` (JSON) with HS256; the key is read from the file as
 * websockify reads it (`JWK(kty="oct", k=<text>)`), or from the file's raw
 * bytes with `raw`.
 */
const MINT_HS256 = `
import base64, json, sys
from jwcrypto import jwk, jwt
path, claims, reading = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
if reading == "raw":
    k = base64.urlsafe_b64encode(open(path, "rb").read()).decode().rstrip("=")
else:
    k = open(path).read().strip()
t = jwt.JWT(header={"alg": "HS256"}, claims=claims)
t.make_signed_token(jwk.JWK(kty="oct", k=k))
print(t.serialize())
`;

/** websocket-client opens the URL: "OPEN" with the banner and an echo, or "STATUS <code>". */
const CONNECT = `
import sys, websocket
try:
    ws = websocket.create_connection(sys.argv[1])
except websocket.WebSocketBadStatusException as e:
    print("STATUS", e.status_code)
    sys.exit(0)
banner = ws.recv()
ws.send_binary(b"jwt e2e")
echo = ws.recv()
ws.close()
print("OPEN", banner == b"RFB 003.008\\n" and echo == b"jwt e2e")
`;

/** Runs `fn` with vncws started as `--token-plugin JWTTokenApi --token-source SOURCE ...extra`. */
async function withVncws(
  source: string,
  extra: string[],
  fn: (port: number, vncws: Proc) => Promise<void>,
): Promise<void> {
  const port = freePort();
  const vncws = await startVncws([
    "--token-plugin",
    "JWTTokenApi",
    "--token-source",
    source,
    ...extra,
    String(port),
  ]);
  try {
    await fn(port, vncws);
  } finally {
    await vncws.stop();
  }
}

const connect = (port: number, token: string) =>
  python(CONNECT, [`ws://127.0.0.1:${port}/websockify?token=${token}`]);

Deno.test({
  name: "websockify key file + jwcrypto token: routed; wrong key 404; raw reading is opt-in",
  ...opts,
  async fn(t) {
    const target = startEchoTarget();
    using dir = tempDir();
    const keyFile = `${dir.path}/jwt.key`;
    const otherKey = `${dir.path}/other.key`;
    // websockify's key file: base64url of a 32-byte secret, written with a newline.
    const b64url = (b: Uint8Array) =>
      btoa(String.fromCharCode(...b)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
    Deno.writeTextFileSync(keyFile, `${b64url(crypto.getRandomValues(new Uint8Array(32)))}\n`);
    Deno.writeTextFileSync(otherKey, b64url(crypto.getRandomValues(new Uint8Array(32))));
    const claims = JSON.stringify({ host: "127.0.0.1", port: target.port });
    const good = await python(MINT_HS256, [keyFile, claims, "k"]);
    const wrong = await python(MINT_HS256, [otherKey, claims, "k"]);
    const rawSigned = await python(MINT_HS256, [keyFile, claims, "raw"]);
    try {
      await t.step("default reading: the jwcrypto token opens, others get 404", async () => {
        await withVncws(keyFile, [], async (port) => {
          assert.equal(await connect(port, good), "OPEN True");
          assert.equal(await connect(port, wrong), "STATUS 404");
          assert.equal(await connect(port, rawSigned), "STATUS 404");
        });
      });
      await t.step("--jwt-secret-encoding raw: the file's bytes are the key", async () => {
        await withVncws(keyFile, ["--jwt-secret-encoding", "raw"], async (port) => {
          assert.equal(await connect(port, rawSigned), "OPEN True");
          assert.equal(await connect(port, good), "STATUS 404");
        });
      });
      await t.step(
        "a key file that is not base64url stops the start, naming the option",
        async () => {
          const bad = `${dir.path}/bad.key`;
          Deno.writeTextFileSync(bad, "my old raw secret\n");
          const p = startProcess(Deno.execPath(), [
            "run",
            "-A",
            MAIN,
            "--token-plugin",
            "JWTTokenApi",
            "--token-source",
            bad,
            String(freePort()),
          ]);
          const status = await p.status;
          assert.ok(!status.success, p.output());
          assert.match(p.output(), /not base64url text.*--jwt-secret-encoding raw/);
          assert.doesNotMatch(p.output(), /listening on/);
        },
      );
    } finally {
      await target.close();
    }
  },
});

/**
 * jwcrypto makes an ES256 key pair (kid "e2e") and prints its public JWKS and
 * tokens: good, wrong audience, and one signed by another key with the same kid.
 */
const MINT_ES256 = `
import json, sys
from jwcrypto import jwk, jwt
port = int(sys.argv[1])
key = jwk.JWK.generate(kty="EC", crv="P-256", kid="e2e")
forger = jwk.JWK.generate(kty="EC", crv="P-256", kid="e2e")
def token(k, **extra):
    t = jwt.JWT(header={"alg": "ES256", "kid": "e2e"},
                claims=dict(host="127.0.0.1", port=port, **extra))
    t.make_signed_token(k)
    return t.serialize()
ok = dict(aud="vnc", iss="https://idp.example")
print(json.dumps({
    "jwks": {"keys": [json.loads(key.export_public())]},
    "good": token(key, **ok),
    "audience": token(key, aud="web", iss="https://idp.example"),
    "forged": token(forger, **ok),
}))
`;

Deno.test({
  name: "JWKS URL with --jwt-audience/--jwt-issuer: jwcrypto's ES256 token routes; others 404",
  ...opts,
  async fn() {
    const target = startEchoTarget();
    const minted = JSON.parse(await python(MINT_ES256, [String(target.port)]));
    let hits = 0;
    const jwks = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
      hits++;
      return Response.json(minted.jwks);
    });
    const issuer = ["--jwt-audience", "vnc", "--jwt-issuer", "https://idp.example"];
    const url = `http://127.0.0.1:${jwks.addr.port}/jwks.json`;
    try {
      await withVncws(url, issuer, async (port) => {
        assert.equal(await connect(port, minted.good), "OPEN True");
        assert.equal(await connect(port, minted.audience), "STATUS 404");
        assert.equal(await connect(port, minted.forged), "STATUS 404");
        assert.equal(await connect(port, minted.good), "OPEN True");
        assert.equal(hits, 1, "the key set was fetched once, at start");
      });
    } finally {
      await jwks.shutdown();
      await target.close();
    }
  },
});

Deno.test({
  name: "JWKS server down: vncws starts with a warning and answers 503, not 404",
  ...opts,
  async fn() {
    const target = startEchoTarget();
    const minted = JSON.parse(await python(MINT_ES256, [String(target.port)]));
    const nobody = `http://127.0.0.1:${freePort()}/jwks.json`;
    try {
      await withVncws(nobody, [], async (port, vncws) => {
        assert.match(vncws.output(), /WARN .*JWKS fetch failed/);
        assert.equal(await connect(port, minted.good), "STATUS 503");
      });
    } finally {
      await target.close();
    }
  },
});
