/**
 * A scripted RFB 3.8 server for the viewer's credentials tests, written from
 * rfbproto and the VeNCrypt description: it offers only security type
 * VeNCrypt (19), version 0.2, subtype Plain (256) without TLS, records the
 * username and password each viewer sends, and answers SecurityResult OK and
 * a small ServerInit for the right pair, or failure with a reason.
 * @module
 */
import { readExactly } from "../../scripts/testing/util.ts";
import { encodeServerInit } from "../../src/rfb/handshake.ts";
import { encodePixelFormat } from "../../src/rfb/pixel_format.ts";
import { SERVER_PIXEL_FORMAT } from "../../src/demo/pixel_format.ts";
import { tcpServer } from "./viewer_page.ts";

/** Security type VeNCrypt and its subtype Plain (username and password in the clear). */
const VENCRYPT = 19;
const PLAIN = 256;

/** The reason sent with a failed SecurityResult. */
export const PLAIN_FAILURE_REASON = "Authentication failed: unknown user or wrong password";

/** A username and password as a viewer sent them. */
export interface PlainCredentials {
  username: string;
  password: string;
}

/** A running scripted Plain server. */
export interface PlainServer {
  port: number;
  /** Every pair received, in order. */
  received: PlainCredentials[];
  /** Handshakes that did not follow the expected sequence, in words. */
  problems: string[];
  close(): void;
}

function be32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

async function readU32(conn: Deno.Conn): Promise<number> {
  return new DataView((await readExactly(conn, 4)).buffer).getUint32(0);
}

/** Throws, naming `what`, when `got` differs from `want`. */
function expect(got: unknown, want: unknown, what: string): void {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

async function serve(conn: Deno.Conn, accept: PlainCredentials, server: PlainServer) {
  const text = new TextDecoder();
  await conn.write(new TextEncoder().encode("RFB 003.008\n"));
  expect(text.decode(await readExactly(conn, 12)), "RFB 003.008\n", "ProtocolVersion");
  await conn.write(new Uint8Array([1, VENCRYPT]));
  expect([...await readExactly(conn, 1)], [VENCRYPT], "security type");
  await conn.write(new Uint8Array([0, 2])); // VeNCrypt 0.2
  expect([...await readExactly(conn, 2)], [0, 2], "VeNCrypt version");
  await conn.write(new Uint8Array([0, 1, ...be32(PLAIN)])); // accepted; one subtype: Plain
  expect(await readU32(conn), PLAIN, "VeNCrypt subtype");
  const userLength = await readU32(conn);
  const passLength = await readU32(conn);
  const username = text.decode(await readExactly(conn, userLength));
  const password = text.decode(await readExactly(conn, passLength));
  server.received.push({ username, password });
  if (username !== accept.username || password !== accept.password) {
    const reason = new TextEncoder().encode(PLAIN_FAILURE_REASON);
    await conn.write(new Uint8Array([...be32(1), ...be32(reason.length), ...reason]));
    conn.close();
    return;
  }
  await conn.write(be32(0));
  await conn.write(encodeServerInit({
    width: 64,
    height: 48,
    pixelFormat: encodePixelFormat(SERVER_PIXEL_FORMAT),
    name: "plain test",
  }));
  // The viewer's messages (pixel format, encodings, update requests) are not answered.
  const sink = new Uint8Array(4096);
  try {
    while (await conn.read(sink) !== null) { /* read until the viewer leaves */ }
  } catch { /* the viewer or the test ended the connection: the handshake was done */ }
}

/** Starts the scripted server on a free port of 127.0.0.1; `accept` is the one right pair. */
export function startPlainServer(accept: PlainCredentials): PlainServer {
  const server: PlainServer = { port: 0, received: [], problems: [], close: () => {} };
  const tcp = tcpServer((conn) =>
    serve(conn, accept, server).catch((e) => {
      // A connection that ends early is a probe or the viewer leaving; anything else is a finding.
      if (!/EOF after 0 of/.test(String(e))) server.problems.push(String(e));
    })
  );
  server.port = tcp.port;
  server.close = () => tcp.close();
  return server;
}
