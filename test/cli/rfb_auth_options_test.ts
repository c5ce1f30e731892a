import assert from "node:assert/strict";
import { parseCommandLine } from "../../src/cli/cli.ts";
import { UsageError } from "../../src/cli/values.ts";
import type { Config } from "../../src/config/config.ts";
import { MAIN, startProcess } from "../../scripts/testing/util.ts";

function config(args: string[]): Config {
  const cmd = parseCommandLine(args);
  assert.equal(cmd.kind, "run");
  return (cmd as { config: Config }).config;
}

Deno.test("--target-password-file: the first line becomes the policy's credentials", () => {
  const file = Deno.makeTempFileSync();
  try {
    Deno.writeTextFileSync(file, "s3cret12\nignored\n");
    const c = config([
      "--target-password-file",
      file,
      "--target-username",
      "ann",
      "6080",
      "h:5900",
    ]);
    assert.deepEqual(c.rfbPolicy, {
      viewOnly: false,
      clipboard: "both",
      credentials: { password: "s3cret12", username: "ann" },
    });
    assert.equal(c.rfbAuth, undefined);
    // Without it: no policy, no gateway.
    assert.equal(config(["6080", "h:5900"]).rfbPolicy, undefined);
    Deno.writeTextFileSync(file, "\n");
    assert.throws(
      () => config(["--target-password-file", file, "6080", "h:5900"]),
      /first line is empty/,
    );
    assert.throws(
      () =>
        config([
          "--target-password-file",
          file,
          "--token-plugin",
          "TokenFile",
          "--token-source",
          file,
          "6080",
        ]),
      /fixed target's password/,
    );
  } finally {
    Deno.removeSync(file);
  }
});

Deno.test("--target-password-file: a missing file stops the start with exit 2 and says which", async () => {
  assert.throws(
    () => config(["--target-password-file", "/nonexistent/pw", "6080", "h:5900"]),
    (e: unknown) =>
      e instanceof UsageError &&
      /\/nonexistent\/pw: cannot read it \(no such file\)/.test(e.message),
  );
  const p = startProcess(Deno.execPath(), [
    "run",
    "-A",
    MAIN,
    "--target-password-file",
    "/nonexistent/pw",
    "6080",
    "h:5900",
  ]);
  const status = await p.status;
  assert.equal(status.code, 2);
  assert.match(p.output(), /--target-password-file \/nonexistent\/pw: cannot read it/);
});

Deno.test("--rfb-auth: a list of known schemes, in order; anything else is a usage error", () => {
  assert.deepEqual(config(["--rfb-auth", "vencrypt,VNC", "6080", "h:5900"]).rfbAuth, [
    "vencrypt",
    "vnc",
  ]);
  assert.deepEqual(config(["--rfb-auth", "none", "6080", "h:5900"]).rfbAuth, ["none"]);
  assert.throws(
    () => config(["--rfb-auth", "vnc,tls", "6080", "h:5900"]),
    /takes a list of vencrypt, vnc, none/,
  );
  assert.throws(() => config(["--rfb-auth", ",", "6080", "h:5900"]), UsageError);
});

Deno.test("--target-cert/--target-key go to the target TLS settings; --target-key needs --target-cert", () => {
  const c = config(["--target-cert", "c.pem", "--target-key", "k.pem", "6080", "h:5900"]);
  assert.equal(c.targetTls.cert, "c.pem");
  assert.equal(c.targetTls.key, "k.pem");
  assert.throws(
    () => config(["--target-key", "k.pem", "6080", "h:5900"]),
    /--target-key needs --target-cert/,
  );
});
