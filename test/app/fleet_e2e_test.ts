/**
 * Fleet state (`--state-redis`) with a real redis-server and two real vncws
 * replicas sharing it, npm ws as the viewer: a session on replica A is
 * listed by `vncws sessions` and by B's status page; `--max-per-token 1`
 * holds across replicas; `vncws sessions --kill` ends a session on A with
 * 1000 "ended by an administrator"; Redis stopped: sessions go on, limits
 * count per replica, one log line, /readyz warns; Redis restarted: the live
 * sessions are back; kill -9 of A: its entries vanish within the TTL.
 */
import assert from "node:assert/strict";
import WebSocket from "ws";
import { startEchoTarget } from "../../scripts/testing/targets.ts";
import {
  freePort,
  MAIN,
  type Proc,
  skipUnless,
  startVncws,
  tempDir,
  waitUntil,
} from "../../scripts/testing/util.ts";
import { startRedis, type TestRedis } from "../../scripts/testing/redis.ts";
import { wsEcho } from "../../scripts/testing/ws_npm.ts";
import { tokenHash } from "../../src/route/resolver.ts";

const NO_REDIS = skipUnless("redis-server", "apt-get install redis-server");

/** A live session, or the HTTP status that refused it. */
type Opened = { ws: WebSocket; closed: Promise<{ code: number; reason: string }> } | {
  status: number;
};

function open(port: number, token: string): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/websockify?token=${token}`);
    ws.binaryType = "nodebuffer";
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      ws.once(
        "close",
        (code: number, reason: Uint8Array) => r({ code, reason: new TextDecoder().decode(reason) }),
      )
    );
    ws.once("error", reject);
    ws.once("unexpected-response", (_req: unknown, res: { statusCode?: number }) => {
      resolve({ status: res.statusCode ?? 0 });
      ws.terminate();
    });
    // The echo target speaks first: the session is relaying once its banner arrives.
    ws.once("message", () => resolve({ ws, closed }));
  });
}

async function session(port: number, token: string): Promise<Extract<Opened, { ws: unknown }>> {
  const o = await open(port, token);
  if ("status" in o) throw new Error(`session refused with ${o.status}`);
  return o;
}

async function status(port: number, token: string): Promise<number> {
  const o = await open(port, token);
  if ("status" in o) return o.status;
  o.ws.close();
  await o.closed;
  return 101;
}

async function echoes(ws: WebSocket): Promise<boolean> {
  const data = new TextEncoder().encode("ping");
  return (await wsEcho(ws, data)).length === data.length;
}

async function sessionsCli(...args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "sessions", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

interface Listed {
  id: number;
  replica: string;
  target: string;
  token?: string;
}

async function statusJson(metrics: number): Promise<Listed[]> {
  return await (await fetch(`http://127.0.0.1:${metrics}/sessions.json`)).json();
}

/** Its arguments in this file's order: what it waits for first. */
const until = (what: string, check: () => Promise<boolean>, ms = 15000) =>
  waitUntil(check, what, ms);

const count = (text: string, needle: string) => text.split(needle).length - 1;

Deno.test({
  name: "fleet state: two replicas share sessions, limits and --kill through one Redis",
  ignore: NO_REDIS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    let redis: TestRedis = await startRedis();
    const redisPort = redis.port;
    const target = startEchoTarget();
    using dir = tempDir();
    const tokens = `${dir.path}/tokens`;
    Deno.writeTextFileSync(
      tokens,
      `good: 127.0.0.1:${target.port}\nother: 127.0.0.1:${target.port}\n`,
    );
    const state = `127.0.0.1:${redisPort}`;
    const replica = async (): Promise<{ proc: Proc; port: number; metrics: number }> => {
      const port = freePort();
      const metrics = freePort();
      const proc = await startVncws([
        "--token-plugin",
        "TokenFile",
        "--token-source",
        tokens,
        "--state-redis",
        state,
        "--max-per-token",
        "1",
        "--metrics",
        `127.0.0.1:${metrics}`,
        `127.0.0.1:${port}`,
      ], { env: { VNCWS_STATE_TTL: "3" } });
      return { proc, port, metrics };
    };
    const a = await replica();
    const b = await replica();
    const aName = `${Deno.hostname()}:${a.proc.pid}`;
    const bName = `${Deno.hostname()}:${b.proc.pid}`;
    const onA = (l: Listed[]) => l.filter((s) => s.replica === aName);
    try {
      await t.step("a session on A is listed by `vncws sessions` and B's status page", async () => {
        // Before: nothing listed.
        assert.match((await sessionsCli("--state-redis", state)).out, /no live sessions/);
        assert.deepEqual(onA(await statusJson(b.metrics)), []);
        const s = await session(a.port, "good");
        const listed = await sessionsCli("--state-redis", state);
        assert.equal(listed.code, 0, listed.out);
        assert.match(
          listed.out,
          new RegExp(`^${aName}/\\d+ .*127\\.0\\.0\\.1:${target.port}`, "m"),
        );
        assert.ok(listed.out.includes(tokenHash("good")), "the token's hash is listed");
        const json = await sessionsCli("--state-redis", state, "--json");
        assert.ok(!json.out.includes('"good"'), "never the token itself");
        assert.equal(JSON.parse(json.out).length, 1);
        const fromB = onA(await statusJson(b.metrics));
        assert.equal(fromB.length, 1);
        assert.equal(fromB[0].token, tokenHash("good"));
        const page = await (await fetch(`http://127.0.0.1:${b.metrics}/`)).text();
        assert.ok(page.includes(aName), "B's status page names A's session with its replica");
        s.ws.close();
        await s.closed;
        // A session's entry goes at its end.
        await until(
          "A's ended session unlisted",
          async () => onA(await statusJson(b.metrics)).length === 0,
        );
      });

      await t.step("--max-per-token 1 holds across replicas", async () => {
        const first = await session(a.port, "good");
        assert.equal(await status(b.port, "good"), 429, "the same token on B, while open on A");
        assert.equal(await status(b.port, "other"), 101, "another token on B is admitted");
        first.ws.close();
        await first.closed;
        await until(
          "admitted on B once A's session ended",
          async () => await status(b.port, "good") === 101,
        );
      });

      await t.step(
        "vncws sessions --kill ends a session on the replica that holds it",
        async () => {
          const victim = await session(a.port, "good");
          const bystander = await session(b.port, "other");
          const mine = onA(await statusJson(b.metrics));
          assert.equal(mine.length, 1);
          // Unknown ids are refused, and end nothing.
          const unknown = await sessionsCli("--state-redis", state, "--kill", `${aName}/999999`);
          assert.equal(unknown.code, 1, unknown.out);
          assert.match(unknown.out, /no live session/);
          assert.ok(await echoes(victim.ws));
          const killed = await sessionsCli(
            "--state-redis",
            state,
            "--kill",
            `${aName}/${mine[0].id}`,
          );
          assert.equal(killed.code, 0, killed.out);
          assert.deepEqual(await victim.closed, {
            code: 1000,
            reason: "ended by an administrator",
          });
          await a.proc.waitFor("session ended by an administrator");
          assert.ok(await echoes(bystander.ws), "the other replica's session goes on");
          bystander.ws.close();
          await bystander.closed;
        },
      );

      // Held across the outage below.
      const kept = await session(a.port, "good");
      const onB = await session(b.port, "other");
      await t.step(
        "Redis stopped: sessions go on, limits per replica, one log line, /readyz warns",
        async () => {
          await redis.proc.stop();
          await a.proc.waitFor("does not answer");
          assert.ok(await echoes(kept.ws), "the session on A goes on");
          assert.equal(await status(a.port, "good"), 429, "A still counts its own session");
          const elsewhere = await session(b.port, "good");
          assert.ok(await echoes(elsewhere.ws), "B cannot see A's count: admitted");
          elsewhere.ws.close();
          await elsewhere.closed;
          assert.equal(await status(a.port, "other"), 101);
          const ready = await fetch(`http://127.0.0.1:${a.metrics}/readyz`);
          assert.equal(ready.status, 200);
          assert.match(
            await ready.text(),
            /^ready\nwarning: fleet state: Redis does not answer/,
          );
          assert.equal(count(a.proc.output(), "does not answer"), 1, "one line per outage");
        },
      );

      await t.step("Redis restarted: the live sessions are listed again", async () => {
        redis = await startRedis([], redisPort);
        await a.proc.waitFor("is back");
        await until("both replicas' sessions listed again", async () => {
          const listed = await statusJson(b.metrics);
          return onA(listed).length === 1 && listed.some((s) => s.replica === bName);
        });
        const ready = await fetch(`http://127.0.0.1:${a.metrics}/readyz`);
        assert.equal(await ready.text(), "ready\n");
        // The slot A took during the outage counts again.
        assert.equal(await status(b.port, "good"), 429);
        assert.equal(count(a.proc.output(), "does not answer"), 1);
      });

      await t.step("kill -9 of A: its entries vanish within the TTL", async () => {
        assert.equal(onA(await statusJson(b.metrics)).length, 1);
        await a.proc.stop("SIGKILL");
        await kept.closed;
        await until("A's entries gone", async () => onA(await statusJson(b.metrics)).length === 0);
        // Its token slot expired too.
        await until("A's slot expired", async () => await status(b.port, "good") === 101);
        assert.ok(await echoes(onB.ws), "B's session goes on");
      });
      onB.ws.close();
    } finally {
      await a.proc.stop();
      await b.proc.stop();
      await redis.proc.stop();
      await target.close();
    }
  },
});
