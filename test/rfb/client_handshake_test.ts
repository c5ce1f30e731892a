import assert from "node:assert/strict";
import { concatBytes, u32be } from "../../src/base/bytes.ts";
import { memoryPair } from "../../src/net/memory_stream.ts";
import type { ByteStream } from "../../src/net/stream.ts";
import {
  clientHandshake,
  type ClientHandshakeOptions,
  CREDENTIALS_REFUSED,
  DEFAULT_RFB_AUTH,
} from "../../src/rfb/client_handshake.ts";
import { RfbEndOfStream, RfbReader } from "../../src/rfb/reader.ts";
import { vncAuthResponse } from "../../src/rfb/vnc_auth.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const CHALLENGE = new Uint8Array(16).map((_, i) => i * 7);
const noTls = () => Promise.reject(new Error("no TLS in this test"));

/** Runs `server` (a scripted VNC server) against the client handshake with `options`. */
async function run(
  server: (s: ByteStream, r: RfbReader) => Promise<void>,
  options: Partial<ClientHandshakeOptions>,
) {
  const [srv, cli] = memoryPair({ names: ["server", "vncws"] });
  const scripted = server(srv, new RfbReader(srv)).finally(() => srv.close());
  const result = await clientHandshake(cli, {
    schemes: DEFAULT_RFB_AUTH,
    startTls: noTls,
    ...options,
  });
  cli.close(); // a server still waiting (for ClientInit) reads the end
  // That end is expected; a failed assertion in the script is not.
  await scripted.catch((e) => {
    if (!(e instanceof RfbEndOfStream)) throw e;
  });
  return result;
}

/** Version exchange; the server's version `minor` and what the client answered. */
async function hello(s: ByteStream, r: RfbReader, minor: number): Promise<string> {
  await s.writeAll(enc.encode(`RFB 003.00${minor}\n`));
  return dec.decode(await r.take(12));
}

async function vncAuth(s: ByteStream, r: RfbReader, password: string): Promise<boolean> {
  await s.writeAll(CHALLENGE);
  const answer = await r.take(16);
  return answer.join() === vncAuthResponse(password, CHALLENGE).join();
}

const failed = (why: string) => concatBytes([u32be(1), u32be(why.length), enc.encode(why)]);

Deno.test("client handshake: 3.8 VncAuth with the right password", async () => {
  let answered = "";
  const result = await run(async (s, r) => {
    answered = await hello(s, r, 8);
    await s.writeAll(new Uint8Array([2, 1, 2]));
    assert.equal(await r.u8(), 2);
    assert.ok(await vncAuth(s, r, "s3cret12"));
    await s.writeAll(u32be(0));
    await r.u8(); // ClientInit is the gateway's, after the handshake
  }, { credentials: { password: "s3cret12" } });
  assert.equal(answered, "RFB 003.008\n");
  assert.ok(result.ok);
  assert.equal(result.security, "VncAuth");
});

Deno.test("client handshake: 3.8 VncAuth with a wrong password is refused, with no second try", async () => {
  let tries = 0;
  const result = await run(async (s, r) => {
    await hello(s, r, 8);
    await s.writeAll(new Uint8Array([1, 2]));
    await r.u8();
    tries++;
    assert.equal(await vncAuth(s, r, "s3cret12"), false);
    await s.writeAll(failed("Authentication failed"));
  }, { credentials: { password: "wrong" } });
  assert.equal(result.ok, false);
  assert.ok(!result.ok && result.refused);
  assert.equal(!result.ok && result.reason, CREDENTIALS_REFUSED);
  assert.match(!result.ok ? result.detail : "", /Authentication failed/);
  assert.equal(tries, 1);
});

Deno.test("client handshake: a 3.3 server picks VncAuth; right and wrong password", async () => {
  for (const [password, ok] of [["pw", true], ["nope", false]] as const) {
    const result = await run(async (s, r) => {
      assert.equal(await hello(s, r, 3), "RFB 003.003\n");
      await s.writeAll(u32be(2));
      await s.writeAll(u32be((await vncAuth(s, r, "pw")) ? 0 : 1));
    }, { credentials: { password } });
    assert.equal(result.ok, ok);
    if (!result.ok) assert.equal(result.reason, CREDENTIALS_REFUSED);
  }
});

Deno.test("client handshake: 3.7 None (no SecurityResult); a scheme list without none refuses it", async () => {
  const server = async (s: ByteStream, r: RfbReader) => {
    await hello(s, r, 7);
    await s.writeAll(new Uint8Array([1, 1]));
    await r.u8();
  };
  const ok = await run(server, { schemes: ["none"] });
  assert.ok(ok.ok);
  const refused = await run(server, {
    schemes: ["vencrypt", "vnc"],
    credentials: { password: "x" },
  });
  assert.equal(refused.ok, false);
  assert.match(!refused.ok ? refused.reason : "", /no security type in common.*offers None/);
});

Deno.test("client handshake: VncAuth without a password is no common type", async () => {
  const result = await run(async (s, r) => {
    await hello(s, r, 8);
    await s.writeAll(new Uint8Array([1, 2]));
  }, {});
  assert.equal(result.ok, false);
  assert.match(!result.ok ? result.reason : "", /offers VncAuth/);
});

Deno.test("client handshake: the server's own refusal reason reaches the viewer", async () => {
  const result = await run(async (s, r) => {
    await hello(s, r, 8);
    await s.writeAll(concatBytes([new Uint8Array([0]), u32be(9), enc.encode("Too many!")]));
  }, { credentials: { password: "x" } });
  assert.equal(!result.ok && result.reason, "the VNC server refused the connection: Too many!");
});

/** VeNCrypt 0.2 up to the subtype the client chose. */
async function veNCrypt(s: ByteStream, r: RfbReader, subtypes: number[]): Promise<number> {
  await s.writeAll(new Uint8Array([0, 2]));
  assert.deepEqual(Array.from(await r.take(2)), [0, 2]);
  await s.writeAll(new Uint8Array([0, subtypes.length]));
  await s.writeAll(concatBytes(subtypes.map(u32be)));
  return await r.u32();
}

Deno.test("client handshake: VeNCrypt Plain sends user and password, then the result", async () => {
  let got = "";
  const result = await run(async (s, r) => {
    await hello(s, r, 8);
    await s.writeAll(new Uint8Array([1, 19]));
    assert.equal(await r.u8(), 19);
    assert.equal(await veNCrypt(s, r, [256]), 256); // no acknowledgement byte: not TLS
    const ulen = await r.u32();
    const plen = await r.u32();
    got = dec.decode(await r.take(ulen)) + ":" + dec.decode(await r.take(plen));
    await s.writeAll(u32be(0));
  }, { credentials: { username: "ann", password: "pw" } });
  assert.ok(result.ok);
  assert.equal(got, "ann:pw");
});

Deno.test("client handshake: VeNCrypt X509Vnc runs TLS first (here a failing one: the reason says so)", async () => {
  let tlsStarted = false;
  const result = await run(async (s, r) => {
    await hello(s, r, 8);
    await s.writeAll(new Uint8Array([1, 19]));
    await r.u8();
    assert.equal(await veNCrypt(s, r, [258, 261]), 261); // X509Vnc over TLSVnc
    await s.writeAll(new Uint8Array([1]));
    await r.u8().catch(() => {});
  }, {
    credentials: { password: "pw" },
    startTls: () => {
      tlsStarted = true;
      return Promise.reject(new Error("certificate is not signed by a trusted CA"));
    },
  });
  assert.ok(tlsStarted);
  assert.equal(result.ok, false);
  assert.match(
    !result.ok ? result.reason : "",
    /could not verify the VNC server's TLS certificate/,
  );
  assert.match(!result.ok ? result.detail : "", /trusted CA/);
});

Deno.test("client handshake: VeNCrypt with TLS* subtypes only is refused; retried without it when VncAuth was offered too", async () => {
  const server = (types: number[]) => async (s: ByteStream, r: RfbReader) => {
    await hello(s, r, 8);
    await s.writeAll(new Uint8Array([types.length, ...types]));
    await r.u8();
    assert.equal(await veNCrypt(s, r, [258, 257]), 0); // "none of these"
  };
  const both = await run(server([19, 2]), { credentials: { password: "pw" } });
  assert.equal(both.ok, false);
  assert.equal(!both.ok && both.retryWithout, "vencrypt");
  assert.match(!both.ok ? both.detail : "", /anonymous Diffie-Hellman/);
  const only = await run(server([19]), { credentials: { password: "pw" } });
  assert.equal(!only.ok && only.retryWithout, undefined);
  assert.match(!only.ok ? only.reason : "", /TLSVnc, TLSNone.*anonymous Diffie-Hellman/);
});

Deno.test("client handshake: something that is not a VNC server", async () => {
  const result = await run(async (s) => {
    await s.writeAll(enc.encode("SSH-2.0-Open\n"));
  }, {});
  assert.match(!result.ok ? result.detail : "", /not a VNC server/);
});

/** A stand-in for the TLS stream: passes bytes through, records close and the first read. */
class FakeTls implements ByteStream {
  readonly peer = "tls";
  closed = false;
  reading: Promise<void>;
  #reading!: () => void;
  #under: ByteStream;
  constructor(under: ByteStream) {
    this.#under = under;
    this.reading = new Promise((r) => this.#reading = r);
  }
  read(buf: Uint8Array): Promise<number | null> {
    this.#reading();
    return this.#under.read(buf);
  }
  writeAll(data: Uint8Array): Promise<void> {
    return this.#under.writeAll(data);
  }
  closeWrite(): Promise<void> {
    return this.#under.closeWrite();
  }
  close(): void {
    this.closed = true;
    this.#under.close();
  }
}

/** A server offering VeNCrypt X509Vnc up to the TLS acknowledgement, then `after`. */
function x509Vnc(after: (s: ByteStream, r: RfbReader) => Promise<void>) {
  return async (s: ByteStream, r: RfbReader) => {
    await hello(s, r, 8);
    await s.writeAll(new Uint8Array([1, 19]));
    await r.u8();
    assert.equal(await veNCrypt(s, r, [261]), 261);
    await s.writeAll(new Uint8Array([1]));
    await after(s, r);
  };
}

Deno.test("client handshake: the TLS stream is closed when the server hangs up after TLS; kept on success", async () => {
  let tls: FakeTls | undefined;
  const startTls = (s: ByteStream) => Promise.resolve(tls = new FakeTls(s));
  // The server ends the connection instead of sending the VncAuth challenge.
  const hungUp = await run(x509Vnc(() => Promise.resolve()), {
    credentials: { password: "pw" },
    startTls,
  });
  assert.equal(hungUp.ok, false);
  assert.match(!hungUp.ok ? hungUp.detail : "", /closed the connection/);
  assert.equal(tls?.closed, true);
  // Beside it: through, the TLS stream is the caller's and stays open.
  tls = undefined;
  let closedAtEnd: boolean | undefined;
  const ok = await run(
    x509Vnc(async (s, r) => {
      assert.ok(await vncAuth(s, r, "pw"));
      await s.writeAll(u32be(0));
      closedAtEnd = tls?.closed;
    }),
    { credentials: { password: "pw" }, startTls },
  );
  assert.ok(ok.ok);
  assert.equal(ok.stream, tls);
  assert.equal(closedAtEnd, false);
});

Deno.test("client handshake: giving up (the signal) closes the TLS stream; not before", async () => {
  let tls: FakeTls | undefined;
  let started!: (tls: FakeTls) => void;
  const tlsStarted = new Promise<FakeTls>((r) => started = r);
  const giveUp = new AbortController();
  const result = await run(
    x509Vnc(async () => {
      // vncws waits for the challenge over TLS; the caller gives up then.
      await (await tlsStarted).reading;
      assert.equal(tls!.closed, false);
      giveUp.abort();
      assert.equal(tls!.closed, true);
    }),
    {
      credentials: { password: "pw" },
      startTls: (s) => {
        started(tls = new FakeTls(s));
        return Promise.resolve(tls);
      },
      signal: giveUp.signal,
    },
  );
  assert.equal(result.ok, false);
});
