import assert from "node:assert/strict";
import { configureLog, log } from "../../src/base/log.ts";
import { SESSION_JSON_NAMES } from "../../src/proxy/connection.ts";

const fields = { client: "127.0.0.1:4000", up: 13, down: 25, ms: 7, code: 1000, token: "ab12" };

Deno.test("log: JSON lines rename fields to self-describing names; text lines keep short ones", () => {
  const lines: string[] = [];
  try {
    configureLog({ format: "json", sink: (l) => lines.push(l) });
    log("info", "session end", fields, SESSION_JSON_NAMES);
    const o = JSON.parse(lines[0]);
    assert.equal(o.msg, "session end");
    assert.deepEqual(
      [o.client, o.bytes_up, o.bytes_down, o.duration_ms, o.close_code, o.token_hash],
      ["127.0.0.1:4000", 13, 25, 7, 1000, "ab12"],
    );
    assert.equal(o.up, undefined);
    configureLog({ format: "text", sink: (l) => lines.push(l) });
    log("info", "session end", fields, SESSION_JSON_NAMES);
    assert.match(lines[1], /session end client=127\.0\.0\.1:4000 up=13 down=25 ms=7 code=1000/);
  } finally {
    configureLog({ format: "text", sink: (l) => console.error(l) });
  }
});
