/**
 * Small network helpers for the reliability tests: raw HTTP exchanges,
 * upgrade requests as text, stoppable listeners that count connections.
 * @module
 */
import { readAll, upgradeRequest } from "../../scripts/testing/ws_client.ts";
import { PYTHON, writeAll } from "../../scripts/testing/util.ts";

const enc = new TextEncoder();

/** Sends `text` (latin-1 bytes) and reads the whole answer until vncws closes. */
export async function exchange(
  port: number,
  text: string,
): Promise<{ status: number; text: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i) & 0xff;
    await writeAll(conn, bytes);
    const answer = await readUntilClosedOr101(conn);
    return { status: Number(answer.slice(9, 12)) || 0, text: answer };
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/** Reads to EOF, or stops right after a 101 head (the session would stay open). */
async function readUntilClosedOr101(conn: Deno.Conn): Promise<string> {
  const dec = new TextDecoder();
  let text = "";
  const buf = new Uint8Array(65536);
  for (;;) {
    let n: number | null;
    try {
      n = await conn.read(buf);
    } catch {
      break;
    }
    if (n === null) break;
    text += dec.decode(buf.subarray(0, n), { stream: true });
    if (text.startsWith("HTTP/1.1 101") && text.includes("\r\n\r\n")) {
      // Give the target's first bytes (banner) a moment to follow.
      const more = await Promise.race([
        conn.read(buf).catch(() => null),
        new Promise<null>((r) => setTimeout(() => r(null), 300)),
      ]);
      if (typeof more === "number") text += dec.decode(buf.subarray(0, more));
      break;
    }
  }
  return text;
}

/** A TCP listener that only counts (and closes) the connections it gets. */
export interface Tripwire {
  port: number;
  hits(): number;
  close(): Promise<void>;
}

/** Starts a listener that must never be reached (an "evil" host:port). */
export function startTripwire(): Tripwire {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let hits = 0;
  const loop = (async () => {
    for await (const c of l) {
      hits++;
      c.close();
    }
  })().catch(() => {});
  return {
    port: (l.addr as Deno.NetAddr).port,
    hits: () => hits,
    async close() {
      l.close();
      await loop;
    },
  };
}

/** Writes `text` to a connection. */
export async function writeText(conn: Deno.Conn, text: string): Promise<void> {
  await writeAll(conn, enc.encode(text));
}

export { PYTHON, readAll, upgradeRequest };

/**
 * A target that sends a banner, reads a little, then resets the connection
 * (SO_LINGER 0: a real RST, which Deno cannot send). Prints its port first.
 */
export async function startResetTarget(): Promise<{ port: number; stop(): Promise<void> }> {
  const child = new Deno.Command(PYTHON, {
    args: [
      "-c",
      [
        "import socket,struct,threading",
        "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(16)",
        "print(s.getsockname()[1], flush=True)",
        "def run(c):",
        "  c.sendall(b'RFB 003.008\\n'); c.recv(10)",
        "  c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii',1,0)); c.close()",
        "while True:",
        "  c,_=s.accept(); threading.Thread(target=run,args=(c,),daemon=True).start()",
      ].join("\n"),
    ],
    stdout: "piped",
    stderr: "null",
    stdin: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("reset target did not start");
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  return {
    port: Number(text.trim()),
    async stop() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
    },
  };
}

/**
 * A WebSocket client that upgrades, sends one masked frame, then resets
 * the connection (SO_LINGER 0). Resolves with the status line it got.
 */
export async function resetClient(port: number, path: string): Promise<string> {
  const out = await new Deno.Command(PYTHON, {
    args: [
      "-c",
      [
        "import socket,struct,sys,base64,os",
        `c=socket.create_connection(('127.0.0.1',${port}))`,
        "k=base64.b64encode(os.urandom(16)).decode()",
        `c.sendall(('GET ${path} HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n'`,
        "  'Sec-WebSocket-Key: '+k+'\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n').encode())",
        "r=b''",
        "while b'\\r\\n\\r\\n' not in r: r+=c.recv(1)",
        "c.sendall(bytes([0x82,0x85,1,2,3,4])+bytes(b^m for b,m in zip(b'hello',[1,2,3,4,1])))",
        "c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii',1,0)); c.close()",
        "print(r.split(b'\\r\\n')[0].decode())",
      ].join("\n"),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).trim() + new TextDecoder().decode(out.stderr);
}
