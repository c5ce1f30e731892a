import assert from "node:assert/strict";
import {
  parseSessionsArgs,
  SESSIONS_COMMAND,
  SESSIONS_HELP,
  sessionsTable,
} from "../../src/cli/sessions.ts";
import { UsageError } from "../../src/cli/values.ts";
import { parseFleetSessionId } from "../../src/metrics/fleet_sessions.ts";

Deno.test("vncws sessions: list, --json, --kill REPLICA/N", () => {
  const r = "--state-redis";
  assert.deepEqual(parseSessionsArgs([r, "h:6379"]), {
    kind: "list",
    json: false,
    redis: { url: "redis://h:6379/0", name: "h:6379" },
  });
  assert.equal((parseSessionsArgs([r, "h", "--json"]) as { json: boolean }).json, true);
  assert.deepEqual(parseSessionsArgs([r, "h", "--kill", "web1:4242/7"]), {
    kind: "kill",
    id: "web1:4242/7",
    redis: { url: "redis://h:6379/0", name: "h:6379" },
  });
  assert.deepEqual(parseSessionsArgs(["--help"]), { kind: "help" });
  for (const o of SESSIONS_COMMAND.options) assert.ok(SESSIONS_HELP.includes(`--${o.name}`));
});

Deno.test("vncws sessions: usage errors say what is wrong", () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /--state-redis is required/],
    [["--state-redis", "h", "--kill", "7"], /REPLICA\/N/],
    [["--state-redis", "h", "--kill", "a/b"], /REPLICA\/N/],
    [["--state-redis", "h", "--kill", "a/1", "--json"], /cannot be used together/],
    [["--state-redis", "h:1:2:p:ns"], /no namespace/],
    [["--state-redis", "h", "extra"], /unexpected argument/],
  ];
  for (const [argv, why] of cases) {
    assert.throws(
      () => parseSessionsArgs(argv),
      (e) => e instanceof UsageError && why.test(e.message),
    );
  }
});

Deno.test("vncws sessions: the table names each session as --kill takes it", () => {
  assert.equal(sessionsTable([]), "no live sessions\n");
  const text = sessionsTable([{
    id: 7,
    replica: "web1:4242",
    client: "10.0.0.9:5000",
    target: "10.1.0.2:5900",
    token: "0123456789ab",
    started: 1000,
    bytesToTarget: 2048,
    bytesToClient: 10,
  }], 66_000);
  const [head, row] = text.trimEnd().split("\n");
  assert.match(head, /^ID +CLIENT +TARGET +TOKEN +AGE +UP +DOWN$/);
  assert.match(
    row,
    /^web1:4242\/7 +10\.0\.0\.9:5000 +10\.1\.0\.2:5900 +0123456789ab +1m 5s +2\.0 KiB +10 B$/,
  );
  assert.deepEqual(parseFleetSessionId("web1:4242/7"), { replica: "web1:4242", id: 7 });
  assert.equal(parseFleetSessionId("/7"), undefined);
});
