/**
 * Measures (no assertions): 256 MiB from a TCP target down to a WebSocket
 * client through vncws, over plain ws and over wss (node:tls on a sniffed
 * connection), with the vncws process's CPU time from /proc.
 *
 *   deno run -A scripts/bench/measure_tls.ts [MiB] [rounds] [1|2]
 *
 * Part 2 measures the TLS layer alone, server side in a child process:
 * plain TCP, Deno.listenTls (the fast path) and node:tls over a sniffed
 * Deno conn (this module's path), 256 MiB each, read by Deno.connectTls.
 * @module
 */
import { freePort, startVncws } from "../testing/util.ts";
import { makeCerts } from "../testing/certs.ts";
import { createTlsServer } from "../../src/net/tls_server.ts";
import { type ByteStream, DenoStream, PrefixedStream } from "../../src/net/stream.ts";

const MiB = 1024 * 1024;
const TICK = 100; // USER_HZ on Linux

function cpuSeconds(pid: number): number {
  const f = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / TICK;
}

/** A target that sends `bytes` to each client, then closes. */
function startSource(bytes: number): { port: number; close(): void } {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const chunk = new Uint8Array(256 * 1024).fill(0x5a);
  (async () => {
    for await (const c of l) {
      (async () => {
        c.setNoDelay(true);
        let left = bytes;
        while (left > 0) {
          left -= await c.write(chunk.subarray(0, Math.min(left, chunk.length)));
        }
      })().catch(() => {}).finally(() => c.close());
    }
  })().catch(() => {});
  return { port: (l.addr as Deno.NetAddr).port, close: () => l.close() };
}

/** Receives `bytes` over a WebSocket; resolves the seconds it took. */
function receive(url: string, bytes: number, client?: Deno.HttpClient): Promise<number> {
  return new Promise((resolve, reject) => {
    // deno-lint-ignore no-explicit-any
    const ws = new WebSocket(url, { client } as any);
    ws.binaryType = "arraybuffer";
    let got = 0;
    let start = 0;
    ws.onopen = () => start = performance.now();
    ws.onmessage = (e) => {
      got += (e.data as ArrayBuffer).byteLength;
      if (got >= bytes) {
        ws.close();
        resolve((performance.now() - start) / 1000);
      }
    };
    ws.onerror = () => reject(new Error(`websocket error after ${got} bytes`));
  });
}

async function partOne(mib: number, rounds: number, certs: Awaited<ReturnType<typeof makeCerts>>) {
  const bytes = mib * MiB;
  const source = startSource(bytes);
  const port = freePort();
  const v = await startVncws([
    "--cert",
    certs.serverCert,
    "--key",
    certs.serverKey,
    String(port),
    `127.0.0.1:${source.port}`,
  ]);
  const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(certs.ca)] });
  try {
    for (let r = 0; r < rounds; r++) {
      for (const scheme of ["ws", "wss"]) {
        const cpu0 = cpuSeconds(v.pid);
        const s = await receive(`${scheme}://localhost:${port}/websockify`, bytes, client);
        const cpu = cpuSeconds(v.pid) - cpu0;
        console.log(
          `vncws ${scheme.padEnd(3)} ${mib} MiB down: ${(mib / s).toFixed(0)} MiB/s, ` +
            `${s.toFixed(2)} s, vncws CPU ${cpu.toFixed(2)} s (${
              (cpu / (mib / 1024)).toFixed(2)
            } s/GiB)`,
        );
      }
    }
  } finally {
    client.close();
    await v.stop();
    source.close();
  }
}

/** Child: serves `bytes` on three ports: plain, Deno.listenTls, node:tls over a sniffed conn. */
async function serveChild(bytes: number, cert: string, key: string) {
  const chunk = new Uint8Array(256 * 1024).fill(0x5a);
  const send = async (s: ByteStream) => {
    let left = bytes;
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      await s.writeAll(chunk.subarray(0, n));
      left -= n;
    }
    await s.closeWrite();
    s.close();
  };
  const plain = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const fast = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(cert),
    key: await Deno.readTextFile(key),
  });
  const sniffed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const tls = await createTlsServer({ cert, key, sslOnly: true, verifyClient: false });
  const ports = [plain, fast, sniffed].map((l) => (l.addr as Deno.NetAddr).port);
  console.log(JSON.stringify({ ports }));
  (async () => {
    for await (const c of plain) send(new DenoStream(c)).catch(() => {});
  })();
  (async () => {
    for await (const c of fast) send(new DenoStream(c)).catch(() => {});
  })();
  for await (const c of sniffed) {
    (async () => {
      const raw = new DenoStream(c);
      const first = new Uint8Array(4096);
      const n = await raw.read(first);
      if (n === null) return raw.close();
      await send(await tls.upgrade(new PrefixedStream(raw, first.slice(0, n))));
    })().catch(() => {});
  }
}

async function partTwo(mib: number, rounds: number, certs: Awaited<ReturnType<typeof makeCerts>>) {
  const bytes = mib * MiB;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      import.meta.filename!,
      "--child",
      String(bytes),
      certs.serverCert,
      certs.serverKey,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  while (!line.includes("\n")) line += (await reader.read()).value ?? "";
  const { ports } = JSON.parse(line.slice(line.indexOf("{"), line.indexOf("\n")));
  const ca = await Deno.readTextFile(certs.ca);
  const buf = new Uint8Array(256 * 1024);
  try {
    for (let r = 0; r < rounds; r++) {
      for (
        const [i, name] of ["plain TCP", "Deno.listenTls", "node:tls over sniffed conn"].entries()
      ) {
        const cpu0 = cpuSeconds(child.pid);
        const t0 = performance.now();
        const conn = i === 0
          ? await Deno.connect({ hostname: "127.0.0.1", port: ports[i] })
          : await Deno.connectTls({ hostname: "localhost", port: ports[i], caCerts: [ca] });
        let got = 0;
        for (;;) {
          const n = await conn.read(buf);
          if (n === null) break;
          got += n;
        }
        conn.close();
        const s = (performance.now() - t0) / 1000;
        const cpu = cpuSeconds(child.pid) - cpu0;
        console.log(
          `server ${name.padEnd(27)} ${(got / MiB).toFixed(0)} MiB: ${
            (got / MiB / s).toFixed(0)
          } MiB/s, ` +
            `server CPU ${cpu.toFixed(2)} s (${(cpu / (got / MiB / 1024)).toFixed(2)} s/GiB)`,
        );
      }
    }
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
}

if (Deno.args[0] === "--child") {
  await serveChild(Number(Deno.args[1]), Deno.args[2], Deno.args[3]);
} else {
  const mib = Number(Deno.args[0] ?? 256);
  const rounds = Number(Deno.args[1] ?? 2);
  const certs = await makeCerts();
  try {
    const part = Deno.args[2] ?? "both";
    if (part !== "2") await partOne(mib, rounds, certs);
    if (part !== "1") await partTwo(mib, rounds, certs);
  } finally {
    await certs.remove();
  }
}
