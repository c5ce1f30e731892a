/**
 * A portal's token table in SQLite (`node:sqlite`): each token names a
 * host, a port and when it expires. A session's token comes from
 * `/websockify/<token>`; an unknown or expired one is refused with 404.
 * At start the token `demo` is inserted for TARGET, expiring in an hour
 * (and `expired`, already expired, to show the refusal).
 *
 *     deno run -A examples/portal_sqlite.ts 6080 127.0.0.1:5900
 *
 * `PORTAL_DB=/path/tokens.db` keeps the table in a file (default: in memory).
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { refuse, serve } from "../mod.ts";

const [port, target] = Deno.args;
const colon = target?.lastIndexOf(":") ?? -1;
if (!port || colon < 1) {
  console.error("usage: portal_sqlite.ts PORT HOST:PORT");
  Deno.exit(2);
}

const db = new DatabaseSync(Deno.env.get("PORTAL_DB") ?? ":memory:");
db.exec(`CREATE TABLE IF NOT EXISTS tokens (
  token TEXT PRIMARY KEY, host TEXT NOT NULL, port INTEGER NOT NULL, expires_at INTEGER NOT NULL
)`);
const put = db.prepare("INSERT OR REPLACE INTO tokens VALUES (?, ?, ?, ?)");
const host = target.slice(0, colon);
const targetPort = Number(target.slice(colon + 1));
put.run("demo", host, targetPort, Date.now() + 3600_000);
put.run("expired", host, targetPort, Date.now() - 1000);

const lookup = db.prepare("SELECT host, port FROM tokens WHERE token = ? AND expires_at > ?");

const server = await serve({
  args: [port],
  hooks: {
    route: ({ path }) => {
      const token = path.startsWith("/websockify/") ? path.slice("/websockify/".length) : "";
      const row = lookup.get(token, Date.now()) as { host: string; port: number } | undefined;
      if (!row) return refuse(404, "unknown or expired token");
      return { kind: "tcp", hostname: row.host, port: row.port };
    },
  },
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => void server.close({ drain: true }));
}
const code = await server.finished;
db.close();
Deno.exit(code);
