/**
 * A throwaway redis-server for tests: loopback only, no persistence.
 * @module
 */
import { freePort, type Proc, startProcess } from "./util.ts";

/** A running redis-server and its port; stop it with `proc.stop()`. */
export interface TestRedis {
  port: number;
  proc: Proc;
}

/** redis-server's arguments for a test: no persistence, listening on `bind`:`port`. */
export function redisArgs(bind: string, port: number, extra: string[] = []): string[] {
  return [
    "--port",
    String(port),
    "--bind",
    bind,
    "--save",
    "",
    "--appendonly",
    "no",
    ...extra,
  ];
}

/** Starts redis-server on a free loopback port (`extra`: more arguments) and waits until ready. */
export async function startRedis(extra: string[] = [], port = freePort()): Promise<TestRedis> {
  const proc = startProcess("redis-server", redisArgs("127.0.0.1", port, extra));
  await proc.waitFor("Ready to accept connections");
  return { port, proc };
}
