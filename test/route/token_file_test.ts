import assert from "node:assert/strict";
import { configureLog } from "../../src/base/log.ts";
import { parseTokenFileText, TokenFile } from "../../src/route/token_file.ts";

const logged: string[] = [];
configureLog({ sink: (line) => logged.push(line) });

/** Sets a file's mtime well in the past, so it counts as settled (not racy). */
async function settle(path: string): Promise<void> {
  const past = new Date(Date.now() - 60_000);
  await Deno.utime(path, past, past);
}

Deno.test("every syntax variant of a token file line", () => {
  logged.length = 0;
  const text = [
    "# comment",
    "   # indented comment",
    "",
    "   ",
    "plain: 127.0.0.1:5901",
    "tab:\t127.0.0.1:5902",
    "  indented: host.example:5903",
    "v6bracket: [::1]:5904",
    "v6bare: ::1:5905",
    "unix: unix_socket:/run/vnc/a.sock",
    "nospace:127.0.0.1:5906",
    "twospaced: host: 5907",
    "badport: 127.0.0.1:99999",
    ": 127.0.0.1:1",
    "dup: 127.0.0.1:1",
    "dup: 127.0.0.1:2",
    "crlf: 127.0.0.1:5908\r",
  ].join("\n");
  const m = new Map([...parseTokenFileText(text, "/etc/tokens")].map(([k, v]) => [k, v.target]));
  assert.deepEqual(m.get("plain"), { kind: "tcp", hostname: "127.0.0.1", port: 5901 });
  assert.deepEqual(m.get("tab"), { kind: "tcp", hostname: "127.0.0.1", port: 5902 });
  assert.deepEqual(m.get("indented"), { kind: "tcp", hostname: "host.example", port: 5903 });
  assert.deepEqual(m.get("v6bracket"), { kind: "tcp", hostname: "::1", port: 5904 });
  assert.deepEqual(m.get("v6bare"), { kind: "tcp", hostname: "::1", port: 5905 });
  assert.deepEqual(m.get("unix"), { kind: "unix", path: "/run/vnc/a.sock" });
  assert.deepEqual(m.get("dup"), { kind: "tcp", hostname: "127.0.0.1", port: 2 });
  assert.deepEqual(m.get("crlf"), { kind: "tcp", hostname: "127.0.0.1", port: 5908 });
  for (const bad of ["nospace", "nospace:127.0.0.1", "twospaced", "badport", ""]) {
    assert.equal(m.has(bad), false, bad);
  }
  assert.equal(m.size, 8);
  // Four syntax errors, each naming the file and line, none showing the token.
  const errors = logged.filter((l) => l.includes("syntax error"));
  assert.equal(errors.length, 4, errors.join("\n"));
  for (const [i, line] of [11, 12, 13, 14].entries()) {
    assert.match(errors[i], new RegExp(`file=/etc/tokens line=${line} `));
  }
  assert.ok(!errors.some((l) => l.includes("nospace") || l.includes("twospaced")));
});

Deno.test("TokenFile sees a rewritten file and does not re-parse an unchanged one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/tokens`;
    await Deno.writeTextFile(path, "a: 127.0.0.1:5901\n");
    await settle(path);
    const tf = new TokenFile(path);
    assert.deepEqual(await tf.lookup("a"), { kind: "tcp", hostname: "127.0.0.1", port: 5901 });
    assert.equal(await tf.lookup("b"), null);
    await tf.lookup("a");
    assert.equal(tf.parseCount, 1);
    // Same size, new content: mtime/ctime change it.
    await Deno.writeTextFile(path, "a: 127.0.0.1:5902\n");
    assert.deepEqual(await tf.lookup("a"), { kind: "tcp", hostname: "127.0.0.1", port: 5902 });
    assert.equal(tf.parseCount, 2);
    // Atomic replace (new inode) is seen too.
    await Deno.writeTextFile(`${dir}/.tmp`, "b: 127.0.0.1:5903\n");
    await Deno.rename(`${dir}/.tmp`, path);
    assert.equal(await tf.lookup("a"), null);
    assert.deepEqual(await tf.lookup("b"), { kind: "tcp", hostname: "127.0.0.1", port: 5903 });
    await settle(path);
    const before = (await tf.lookup("b"), tf.parseCount);
    await tf.lookup("b");
    await tf.lookup("zzz");
    assert.equal(tf.parseCount, before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ReadOnlyTokenFile reads once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/tokens`;
    await Deno.writeTextFile(path, "a: 127.0.0.1:5901\n");
    const tf = new TokenFile(path, { reload: false });
    assert.deepEqual(await tf.lookup("a"), { kind: "tcp", hostname: "127.0.0.1", port: 5901 });
    await Deno.writeTextFile(path, "a: 127.0.0.1:5999\n");
    assert.deepEqual(await tf.lookup("a"), { kind: "tcp", hostname: "127.0.0.1", port: 5901 });
    assert.equal(tf.parseCount, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TokenFile directory: files added, changed, removed; dotfiles skipped; last wins", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/10-first`, "a: 127.0.0.1:5901\nshared: 127.0.0.1:1\n");
    await Deno.writeTextFile(`${dir}/20-second`, "b: [::1]:5902\nshared: 127.0.0.1:2\n");
    await Deno.writeTextFile(`${dir}/.swap`, "hidden: 127.0.0.1:5909\n");
    await Deno.mkdir(`${dir}/sub`);
    await Deno.writeTextFile(`${dir}/sub/inner`, "inner: 127.0.0.1:5910\n");
    for (const f of ["10-first", "20-second"]) await settle(`${dir}/${f}`);
    const past = new Date(Date.now() - 60_000);
    await Deno.utime(dir, past, past);
    const tf = new TokenFile(dir);
    assert.deepEqual(await tf.lookup("a"), { kind: "tcp", hostname: "127.0.0.1", port: 5901 });
    assert.deepEqual(await tf.lookup("b"), { kind: "tcp", hostname: "::1", port: 5902 });
    assert.deepEqual(await tf.lookup("shared"), { kind: "tcp", hostname: "127.0.0.1", port: 2 });
    assert.equal(await tf.lookup("hidden"), null);
    assert.equal(await tf.lookup("inner"), null);
    assert.equal(tf.parseCount, 2);
    await tf.lookup("a");
    assert.equal(tf.parseCount, 2);

    await Deno.writeTextFile(`${dir}/30-third`, "c: unix_socket:/tmp/c.sock\n");
    assert.deepEqual(await tf.lookup("c"), { kind: "unix", path: "/tmp/c.sock" });
    assert.equal(tf.parseCount, 3, "only the new file is parsed");

    await Deno.writeTextFile(`${dir}/10-first`, "a: 127.0.0.1:6001\n");
    assert.deepEqual(await tf.lookup("a"), { kind: "tcp", hostname: "127.0.0.1", port: 6001 });

    await Deno.remove(`${dir}/20-second`);
    assert.equal(await tf.lookup("b"), null);
    assert.equal(await tf.lookup("shared"), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TokenFile with a missing source fails as a backend error", async () => {
  const tf = new TokenFile("/nonexistent/vncws-tokens");
  await assert.rejects(() => tf.lookup("a"), (e: Error) => e.name === "TokenBackendError");
});

Deno.test("token file settings: every key after the target; plain lines unchanged", () => {
  logged.length = 0;
  const text = [
    "plain: 127.0.0.1:5901",
    'full: 127.0.0.1:5902 password="pa ss: word" username=ann view_only=true clipboard=none ' +
    "max_duration=600 expires=4102444800",
    "sock: unix_socket:/run/vnc/a.sock view_only=true",
    "v6: [::1]:5903   clipboard=to-client\t",
    "quoted: 127.0.0.1:5904 password='it''s'",
  ].join("\n");
  const m = parseTokenFileText(text, "/etc/tokens");
  assert.deepEqual(m.get("plain"), { target: { kind: "tcp", hostname: "127.0.0.1", port: 5901 } });
  assert.deepEqual(m.get("full"), {
    target: { kind: "tcp", hostname: "127.0.0.1", port: 5902 },
    settings: {
      password: "pa ss: word",
      username: "ann",
      viewOnly: true,
      clipboard: "none",
      maxDuration: 600,
      expires: 4102444800,
    },
  });
  assert.deepEqual(m.get("sock"), {
    target: { kind: "unix", path: "/run/vnc/a.sock" },
    settings: { viewOnly: true },
  });
  assert.deepEqual(m.get("v6")?.settings, { clipboard: "to-client" });
  // 'it''s' is a quoted value followed by more text: an error, that line only.
  assert.equal(m.has("quoted"), false);
  assert.equal(m.size, 4);
  assert.equal(logged.filter((l) => l.includes("syntax error")).length, 1);
});

Deno.test("token file settings: a bad line is logged with file, line and key, never the password", () => {
  logged.length = 0;
  const secret = "Sup3r-Secret-Pw";
  const text = [
    "good: 127.0.0.1:5901 view_only=true",
    `typo: 127.0.0.1:5902 password=${secret} viewonly=true`,
    `badval: 127.0.0.1:5903 password="${secret}" clipboard=sideways`,
    `unclosed: 127.0.0.1:5904 password="${secret}`,
    `stray: 127.0.0.1:5905 ${secret}`,
    "also: 127.0.0.1:5906",
  ].join("\n");
  const m = parseTokenFileText(text, "/etc/tokens");
  assert.deepEqual([...m.keys()], ["good", "also"]);
  const errors = logged.filter((l) => l.includes("syntax error"));
  assert.equal(errors.length, 4, errors.join("\n"));
  assert.match(errors[0], /file=\/etc\/tokens line=2 key=viewonly .*did you mean view_only/);
  assert.match(errors[1], /file=\/etc\/tokens line=3 key=clipboard .*clipboard must be one of/);
  assert.match(errors[2], /line=4 key=password .*no closing/);
  assert.match(errors[3], /line=5 .*not key=value/);
  for (const e of errors) {
    assert.ok(!e.includes(secret), e);
    assert.ok(!/typo|badval|unclosed|stray/.test(e), `a token in: ${e}`);
  }
});

Deno.test("TokenFile: a token whose expires passed does not resolve; one ahead does", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/tokens`;
    const now = Math.floor(Date.now() / 1000);
    await Deno.writeTextFile(
      path,
      `old: 127.0.0.1:5901 expires=${now - 10}\nnew: 127.0.0.1:5902 expires=${now + 3600}\n`,
    );
    const tf = new TokenFile(path);
    assert.equal(await tf.lookup("old"), null);
    assert.equal(await tf.lookupDetail("old"), null);
    assert.deepEqual(await tf.lookupDetail("new"), {
      target: { kind: "tcp", hostname: "127.0.0.1", port: 5902 },
      settings: { expires: now + 3600 },
    });
    assert.deepEqual(await tf.lookup("new"), { kind: "tcp", hostname: "127.0.0.1", port: 5902 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("token file: a bad target is logged without its text (a password beside it stays out)", () => {
  logged.length = 0;
  const text = [
    "tok: password=hunter2 127.0.0.1:5900",
    "tok2: 127.0.0.1:5900password=hunter3",
    "tok3: 127.0.0.1:notaport view_only=true",
    "good: 127.0.0.1:5901 password=hunter4",
  ].join("\n");
  const m = parseTokenFileText(text, "/etc/tokens");
  // The positive beside: a well-formed line with a password loads, and is not logged.
  assert.deepEqual([...m.keys()], ["good"]);
  const errors = logged.filter((l) => l.includes("syntax error"));
  assert.equal(errors.length, 3, errors.join("\n"));
  assert.match(errors[0], /line=1 .*token target holds an =/);
  assert.match(errors[1], /line=2 .*token target holds an =/);
  assert.match(errors[2], /line=3 .*token target port is not a number/);
  for (const e of errors) assert.ok(!/hunter|notaport/.test(e), e);
});
