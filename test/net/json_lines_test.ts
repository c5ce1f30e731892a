import assert from "node:assert/strict";
import { connectJsonLines, type JsonLine, serveJsonLines } from "../../src/net/json_lines.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "json lines: requests get their own answers; other lines are messages; bad lines skipped",
  ...opts,
  async fn() {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/s.sock`;
    const closed = Promise.withResolvers<void>();
    const server = serveJsonLines(path, {
      open(conn) {
        conn.write(new TextEncoder().encode('not json\n[1,2]\n{"hello":1}\n'));
      },
      line(conn, m) {
        const answer = JSON.stringify({ id: m.id, twice: Number(m.n) * 2 }) + "\n";
        conn.write(new TextEncoder().encode(answer));
      },
      close: () => closed.resolve(),
    });
    const messages: JsonLine[] = [];
    const client = await connectJsonLines(path, (m) => messages.push(m));
    const answers = await Promise.all([1, 2, 3].map((n) => client.request({ n })));
    assert.deepEqual(answers.map((a) => a.twice), [2, 4, 6]);
    assert.deepEqual(messages, [{ hello: 1 }]);
    client.close();
    await closed.promise;
    await client.ended;
    assert.ok(!client.open);
    await assert.rejects(client.request({ n: 4 }), /connection closed/);
    server.close();
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "json lines: a request waiting when the server goes away is rejected",
  ...opts,
  async fn() {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/s.sock`;
    const server = serveJsonLines(path, { line: () => server.close() });
    const client = await connectJsonLines(path);
    await assert.rejects(client.request({ n: 1 }), /connection closed/);
    await Deno.remove(dir, { recursive: true });
  },
});
