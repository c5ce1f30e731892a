import assert from "node:assert/strict";
import {
  intersectClipboard,
  parseSettingsWords,
  routeSettings,
  SettingsError,
  settingsExpired,
  settingsFromObject,
} from "../../src/route/target_settings.ts";
import type { ClipboardMode, RfbPolicy } from "../../src/rfb/policy.ts";

/** The error `fn` throws: a SettingsError, checked to name `key` and never show `secret`. */
function settingsError(fn: () => unknown, key: string | undefined, secret?: string): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SettingsError, String(e));
    assert.equal(e.key, key);
    if (secret) assert.ok(!e.message.includes(secret), `"${e.message}" shows the value`);
    return e.message;
  }
  assert.fail("no error");
}

Deno.test("settings words: every key, bare and quoted values", () => {
  assert.deepEqual(
    parseSettingsWords(
      ' password=s3cret username="ann o" view_only=true clipboard=to-client ' +
        "max_duration=600 expires=1893456000",
    ),
    {
      password: "s3cret",
      username: "ann o",
      viewOnly: true,
      clipboard: "to-client",
      maxDuration: 600,
      expires: 1893456000,
    },
  );
  assert.deepEqual(parseSettingsWords("view_only=false\tclipboard=none"), {
    viewOnly: false,
    clipboard: "none",
  });
  for (const mode of ["both", "to-client", "to-server", "none"]) {
    assert.deepEqual(parseSettingsWords(`clipboard=${mode}`), { clipboard: mode });
  }
  assert.deepEqual(parseSettingsWords("max_duration=0 expires=12.5"), {
    maxDuration: 0,
    expires: 12.5,
  });
  // Nothing after the target: no settings.
  assert.equal(parseSettingsWords(""), undefined);
  assert.equal(parseSettingsWords("   "), undefined);
});

Deno.test("settings words: quoting and backslashes", () => {
  const pw = (text: string) => parseSettingsWords(`password=${text}`)?.password;
  assert.equal(pw(`"a b: c"`), "a b: c");
  assert.equal(pw(`'it'`), "it");
  assert.equal(pw(`'say "hi"'`), 'say "hi"');
  assert.equal(pw(`"say \\"hi\\""`), 'say "hi"');
  assert.equal(pw(`"back\\\\slash"`), "back\\slash");
  // Other backslashes stay as they are, inside double quotes and in single quotes.
  assert.equal(pw(`"c:\\dir\\n"`), "c:\\dir\\n");
  assert.equal(pw(`'c:\\dir\\"'`), 'c:\\dir\\"');
  // A bare value is everything up to whitespace, quotes and # included.
  assert.equal(pw(`a"b#c'd=e`), `a"b#c'd=e`);
  assert.equal(pw(`"x" `), "x");
});

Deno.test("settings words: each error names the key and never the value", () => {
  const secret = "hunter2-secret";
  assert.match(
    settingsError(() => parseSettingsWords("colour=blue"), "colour"),
    /unknown setting "colour"; the settings are password, username, view_only, clipboard, max_duration, expires/,
  );
  assert.match(
    settingsError(() => parseSettingsWords("viewonly=true"), "viewonly"),
    /did you mean view_only\?/,
  );
  assert.match(
    settingsError(() => parseSettingsWords(`password="${secret}`), "password", secret),
    /quoted value of password has no closing "/,
  );
  assert.match(
    settingsError(() => parseSettingsWords(`password='${secret}`), "password", secret),
    /no closing '/,
  );
  assert.match(
    settingsError(() => parseSettingsWords(`password="${secret}"x`), "password", secret),
    /followed by a space/,
  );
  assert.match(
    settingsError(
      () => parseSettingsWords(`password=${secret} password=other`),
      "password",
      secret,
    ),
    /password is given twice/,
  );
  assert.match(
    settingsError(() => parseSettingsWords(`password=`), "password"),
    /password must be a non-empty string/,
  );
  assert.match(
    settingsError(() => parseSettingsWords(`username=${secret}`), "username", secret),
    /username needs a password/,
  );
  // A word that is not key=value (a password written without its key) is not echoed.
  assert.match(
    settingsError(() => parseSettingsWords(`view_only=true ${secret}`), undefined, secret),
    /setting 2 after the target is not key=value/,
  );
  assert.match(
    settingsError(() => parseSettingsWords("view_only=yes"), "view_only"),
    /view_only must be true or false/,
  );
  assert.match(
    settingsError(() => parseSettingsWords("clipboard=out"), "clipboard"),
    /clipboard must be one of both, to-client, to-server, none/,
  );
  for (const bad of ["-1", "ten", "1e3", ""]) {
    assert.match(
      settingsError(() => parseSettingsWords(`max_duration=${bad}`), "max_duration"),
      /max_duration must be a number of seconds/,
    );
    assert.match(
      settingsError(() => parseSettingsWords(`expires=${bad}`), "expires"),
      /expires must be a number of seconds since 1970/,
    );
  }
});

Deno.test("settings from JSON fields and claims: types, text forms, null, own fields", () => {
  const own = ["host", "port"];
  assert.deepEqual(
    settingsFromObject({
      host: "h",
      port: 1,
      password: "pw",
      username: "u",
      view_only: true,
      clipboard: "to-server",
      max_duration: 60,
      expires: 2000000000,
    }, { own, strict: false }),
    {
      password: "pw",
      username: "u",
      viewOnly: true,
      clipboard: "to-server",
      maxDuration: 60,
      expires: 2000000000,
    },
  );
  // Text forms of booleans and numbers (Redis users write strings).
  assert.deepEqual(
    settingsFromObject({ view_only: "false", max_duration: "30", expires: "99" }, {
      own,
      strict: false,
    }),
    { viewOnly: false, maxDuration: 30, expires: 99 },
  );
  // null is absent; only the target's own fields: no settings.
  assert.equal(
    settingsFromObject({ host: "h", port: 1, view_only: null }, { own, strict: false }),
    undefined,
  );
  // Other fields are ignored when not strict (websockify ignores them too)...
  assert.equal(
    settingsFromObject({ host: "h", name: "lab 1", email: "a@b" }, { own, strict: false }),
    undefined,
  );
  // ...but one that looks like a misspelt setting is an error, not a silent full session.
  for (const near of ["viewOnly", "view-only", "maxDuration", "expiry", "user_name"]) {
    assert.match(
      settingsError(() => settingsFromObject({ [near]: true }, { own, strict: false }), near),
      /did you mean/,
      near,
    );
  }
  // Strict (a token module's answer): any other field is an error.
  assert.match(
    settingsError(
      () => settingsFromObject({ name: "x" }, { own: ["target"], strict: true }),
      "name",
    ),
    /unknown setting "name"/,
  );
  // Wrong JSON types.
  const secret = "0123456789";
  settingsError(() => settingsFromObject({ view_only: 1 }, { own, strict: false }), "view_only");
  settingsError(() => settingsFromObject({ clipboard: true }, { own, strict: false }), "clipboard");
  settingsError(
    () => settingsFromObject({ password: Number(secret) }, { own, strict: false }),
    "password",
    secret,
  );
  settingsError(
    () => settingsFromObject({ max_duration: -5 }, { own, strict: false }),
    "max_duration",
  );
  settingsError(() => settingsFromObject({ expires: "soon" }, { own, strict: false }), "expires");
  // A lone username: the application's user in JSON and JWT answers, ignored...
  assert.equal(settingsFromObject({ username: "ann" }, { own, strict: false }), undefined);
  assert.deepEqual(
    settingsFromObject({ username: "ann", view_only: true }, { own, strict: false }),
    { viewOnly: true },
  );
  // ...but an error where vncws defines the shape (a module's answer, a token file line).
  settingsError(() => settingsFromObject({ username: "u" }, { own, strict: true }), "username");
  settingsError(() => parseSettingsWords("username=u"), "username");
});

Deno.test("settings from JSON: a setting in another case or spelling is refused, not ignored", () => {
  const own = ["host", "port"];
  for (
    const [key, name] of [
      ["VIEW_ONLY", "view_only"],
      ["View_Only", "view_only"],
      ["VIEW-ONLY", "view_only"],
      ["PASSWORD", "password"],
      ["Password", "password"],
      ["ViewOnly", "view_only"],
      ["MAX_DURATION", "max_duration"],
      ["Clipboard", "clipboard"],
    ]
  ) {
    const message = settingsError(
      () => settingsFromObject({ host: "h", [key]: true }, { own, strict: false }),
      key,
    );
    assert.match(message, new RegExp(`did you mean ${name}\\?`), key);
  }
  // Beside them: the exact names are read, and fields unlike any setting stay ignored.
  assert.deepEqual(settingsFromObject({ view_only: true }, { own, strict: false }), {
    viewOnly: true,
  });
  assert.equal(
    settingsFromObject({ NAME: "lab", Email: "a@b", role: "x" }, { own, strict: false }),
    undefined,
  );
});

Deno.test("clipboard: the intersection of the allowed directions", () => {
  const modes: ClipboardMode[] = ["both", "to-client", "to-server", "none"];
  const table: Record<string, ClipboardMode> = {
    "both both": "both",
    "both to-client": "to-client",
    "both to-server": "to-server",
    "both none": "none",
    "to-client to-client": "to-client",
    "to-client to-server": "none",
    "to-client none": "none",
    "to-server to-server": "to-server",
    "to-server none": "none",
    "none none": "none",
  };
  for (const a of modes) {
    for (const b of modes) {
      const want = table[`${a} ${b}`] ?? table[`${b} ${a}`];
      assert.equal(intersectClipboard(a, b), want, `${a} ∩ ${b}`);
    }
  }
});

Deno.test("routeSettings: the stricter of the fixed policy and the token's settings wins", () => {
  const fixed: RfbPolicy = {
    credentials: { password: "fixed-pw" },
    viewOnly: false,
    clipboard: "to-client",
  };
  // Neither asks for anything: no policy at all (the plain relay).
  assert.deepEqual(routeSettings(undefined), {});
  assert.deepEqual(routeSettings({ viewOnly: false, clipboard: "both" }, {}), {});
  assert.deepEqual(routeSettings(undefined, { clipboard: "both", viewOnly: false }), {});
  // The fixed policy alone.
  assert.deepEqual(routeSettings(fixed), { rfb: fixed });
  // view_only: true if either says so; a token's false does not lift the fixed true.
  assert.equal(routeSettings(fixed, { viewOnly: true }).rfb?.viewOnly, true);
  assert.equal(
    routeSettings({ viewOnly: true, clipboard: "both" }, { viewOnly: false }).rfb?.viewOnly,
    true,
  );
  assert.equal(routeSettings(fixed, { viewOnly: false }).rfb?.viewOnly, false);
  // clipboard: the token's to-server and the fixed to-client leave nothing.
  assert.equal(routeSettings(fixed, { clipboard: "to-server" }).rfb?.clipboard, "none");
  assert.equal(routeSettings(fixed, { clipboard: "both" }).rfb?.clipboard, "to-client");
  // credentials: the token's, else the fixed ones.
  assert.deepEqual(routeSettings(fixed, { password: "tok-pw", username: "ann" }).rfb?.credentials, {
    password: "tok-pw",
    username: "ann",
  });
  assert.deepEqual(routeSettings(fixed, { viewOnly: true }).rfb?.credentials, {
    password: "fixed-pw",
  });
  assert.deepEqual(routeSettings(undefined, { password: "p" }), {
    rfb: { credentials: { password: "p" }, viewOnly: false, clipboard: "both" },
  });
  // max_duration → maxDuration (0 = none of its own); expires → expiresAt, the earlier with exp.
  assert.deepEqual(routeSettings(undefined, { maxDuration: 90 }), { maxDuration: 90 });
  assert.deepEqual(routeSettings(undefined, { maxDuration: 0 }), {});
  assert.deepEqual(routeSettings(undefined, { expires: 100 }), { expiresAt: 100_000 });
  assert.deepEqual(routeSettings(undefined, { expires: 100 }, 50_000), { expiresAt: 50_000 });
  assert.deepEqual(routeSettings(undefined, { expires: 100 }, 500_000), { expiresAt: 100_000 });
  assert.deepEqual(routeSettings(undefined, undefined, 7_000), { expiresAt: 7_000 });
});

Deno.test("settingsExpired: only a passed expires", () => {
  assert.equal(settingsExpired(undefined, 5000), false);
  assert.equal(settingsExpired({ viewOnly: true }, 5000), false);
  assert.equal(settingsExpired({ expires: 6 }, 5000), false);
  assert.equal(settingsExpired({ expires: 5 }, 5000), true);
  assert.equal(settingsExpired({ expires: 4 }, 5000), true);
});
