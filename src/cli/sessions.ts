/**
 * `vncws sessions`: the live sessions of a fleet that shares a Redis
 * (`--state-redis`), as a table or JSON, and `--kill ID` to end one on
 * whichever replica holds it. Whoever can reach that Redis (its password)
 * may do this: there is no other authentication.
 * @module
 */
import { sleep } from "../base/time.ts";
import { type RedisCommands, type RedisEndpoint, redisEndpoint } from "../net/redis.ts";
import { createRedisClient } from "../net/redis_client.ts";
import {
  type FleetSession,
  fleetSessionId,
  listFleetSessions,
  parseFleetSessionId,
  requestSessionEnd,
} from "../metrics/fleet_sessions.ts";
import { formatAge, formatBytes } from "../metrics/ops_server.ts";
import { type CommandSpec, flag, parseOptions, renderHelp, valued } from "./table.ts";
import { text, UsageError } from "./values.ts";

/** Every `vncws sessions` option, once. */
export const SESSIONS_COMMAND: CommandSpec = {
  name: "vncws sessions",
  usage: ["--state-redis REDIS [--json | --kill ID]"],
  intro: [
    "Lists the live sessions of every vncws replica started with the same --state-redis, " +
    "or ends one of them. Anyone who can reach that Redis can do this: protect it with " +
    "a password and the network.",
  ],
  groups: [{ id: "main", title: "Options:" }],
  options: [
    valued(
      "state-redis",
      text("REDIS", "10.0.0.5:6379"),
      "main",
      "vncws",
      "the replicas' Redis: host[:port[:db[:password]]] or redis://",
    ),
    flag("json", "main", "vncws", "print the sessions as JSON instead of a table"),
    valued(
      "kill",
      text("ID", "web1:4242/7"),
      "main",
      "vncws",
      "end session ID (REPLICA/N, as listed) on its replica: close 1000 'ended by an " +
        "administrator'",
    ),
    flag("help", "main", "vncws", "show this help and exit", { short: "h" }),
  ],
};

/** `vncws sessions --help`. */
export const SESSIONS_HELP: string = renderHelp(SESSIONS_COMMAND);

/** What the words after `sessions` ask for. */
export type SessionsCommand =
  | { kind: "help" }
  | { kind: "list"; redis: RedisEndpoint; json: boolean }
  | { kind: "kill"; redis: RedisEndpoint; id: string };

/** Parses the words after `vncws sessions`; throws {@linkcode UsageError}. */
export function parseSessionsArgs(argv: string[]): SessionsCommand {
  const o = parseOptions(SESSIONS_COMMAND, argv);
  if (o.given("help")) return { kind: "help" };
  if (o.positionals.length > 0) {
    throw new UsageError(`unexpected argument: ${o.positionals.join(" ")}`);
  }
  const source = o.get<string>("state-redis");
  if (source === undefined) {
    throw new UsageError("--state-redis is required: the Redis the replicas share");
  }
  let redis: RedisEndpoint;
  try {
    redis = redisEndpoint(source, "--state-redis");
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const kill = o.get<string>("kill");
  if (kill === undefined) return { kind: "list", redis, json: o.given("json") };
  if (o.given("json")) throw new UsageError("--kill and --json cannot be used together");
  if (!parseFleetSessionId(kill)) {
    throw new UsageError(
      `--kill takes a session as listed, REPLICA/N (e.g. web1:4242/7), not "${kill}"`,
    );
  }
  return { kind: "kill", redis, id: kill };
}

/** The sessions as a text table (one line per session), at `now`. */
export function sessionsTable(sessions: FleetSession[], now = Date.now()): string {
  if (sessions.length === 0) return "no live sessions\n";
  const rows = sessions.map((s) => [
    fleetSessionId(s),
    s.client,
    s.target,
    s.token ?? "-",
    formatAge(Math.max(0, (now - s.started) / 1000)),
    formatBytes(s.bytesToTarget),
    formatBytes(s.bytesToClient),
  ]);
  const head = ["ID", "CLIENT", "TARGET", "TOKEN", "AGE", "UP", "DOWN"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  return [line(head), ...rows.map(line)].join("\n") + "\n";
}

/** How long `--kill` waits to see the session gone from the list. */
const KILL_WAIT_MS = 5000;

async function kill(client: RedisCommands, id: string): Promise<number> {
  const listed = (await listFleetSessions(client)).some((s) => fleetSessionId(s) === id);
  if (!listed) {
    console.error(`vncws sessions: no live session ${id} (see 'vncws sessions' for the list)`);
    return 1;
  }
  if (await requestSessionEnd(client, id) === 0) {
    console.error(`vncws sessions: no replica is listening for requests; ${id} goes on`);
    return 1;
  }
  const deadline = Date.now() + KILL_WAIT_MS;
  while (Date.now() < deadline) {
    await sleep(100);
    if (!(await listFleetSessions(client)).some((s) => fleetSessionId(s) === id)) {
      console.log(`ended ${id}`);
      return 0;
    }
  }
  console.error(`vncws sessions: asked for ${id} to end, but it is still listed`);
  return 1;
}

/**
 * `vncws sessions …` (`argv` is what follows `sessions`): the exit code. 0
 * listed or ended, 1 Redis unreachable or no such session, 2 usage error.
 */
export async function sessionsMain(argv: string[]): Promise<number> {
  let cmd: SessionsCommand;
  try {
    cmd = parseSessionsArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`vncws sessions: ${e.message}\nTry 'vncws sessions --help' for the options.`);
    return 2;
  }
  if (cmd.kind === "help") {
    console.log(SESSIONS_HELP);
    return 0;
  }
  const client = createRedisClient(cmd.redis, { timeoutMs: 5000, queue: true, once: true });
  let failure: Error | undefined;
  client.on("error", (e: Error) => failure ??= e);
  try {
    if (cmd.kind === "kill") return await kill(client, cmd.id);
    const sessions = await listFleetSessions(client);
    if (cmd.json) console.log(JSON.stringify(sessions, null, 2));
    else Deno.stdout.writeSync(new TextEncoder().encode(sessionsTable(sessions)));
    return 0;
  } catch (e) {
    console.error(
      `vncws sessions: Redis at ${cmd.redis.name} did not answer: ${
        (failure ?? e as Error).message
      }`,
    );
    return 1;
  } finally {
    client.disconnect();
  }
}
