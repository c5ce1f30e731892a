/**
 * Child for systemd/inetd tests: adopts the inherited listener, answers
 * each connection's first line with "echo:<line> pid=<pid>", sends READY=1,
 * and exits after `argv[1]` connections (closing its listener).
 * Usage: deno run -A _systemd_child.ts systemd|inetd N
 * @module
 */
import { inheritedListener, listenFdsListener, notifyReady } from "../../src/service/systemd.ts";

const mode = Deno.args[0];
const count = Number(Deno.args[1] ?? 1);
const listener = mode === "inetd" ? await inheritedListener(0) : await listenFdsListener();
if (!listener) {
  console.log("not socket-activated");
  Deno.exit(3);
}
console.log(
  `adopted ${JSON.stringify(listener.addr)} env=${Deno.env.get("LISTEN_FDS") ?? "unset"}`,
);
console.log(`notified=${await notifyReady("serving")}`);
for (let i = 0; i < count; i++) {
  const conn = await listener.accept();
  const buf = new Uint8Array(100);
  const n = await conn.read(buf);
  const line = new TextDecoder().decode(buf.subarray(0, n ?? 0)).trim();
  await conn.write(new TextEncoder().encode(`echo:${line} pid=${Deno.pid}\n`));
  await conn.closeWrite();
  // EOF from the client after our half-close.
  console.log(`client eof=${(await conn.read(buf)) === null}`);
  conn.close();
}
listener.close();
await listener.accept().catch((e) => console.log(`after close: ${e.name}`));
console.log("child done");
