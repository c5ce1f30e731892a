/**
 * A token's own settings for its session, as every token backend carries
 * them: `password` and `username` (the credentials vncws answers the VNC
 * server with), `view_only`, `clipboard`, `max_duration` (seconds) and
 * `expires` (Unix time in seconds).
 *
 * Two spellings, one meaning:
 * - words after a token file's target: `key=value`, separated by
 *   whitespace; a value may be quoted with `"..."` (where `\"` and `\\`
 *   stand for `"` and `\`; any other backslash is kept as it is) or
 *   `'...'` (taken as it is);
 * - fields of a JSON object or claims of a JWT, with the same names: JSON
 *   booleans and numbers, or their text (`"true"`, `"300"`); `null` is the
 *   same as absent.
 *
 * Then {@linkcode routeSettings} combines them with the fixed policy of the
 * options: the stricter wins (view-only if either says so, the clipboard
 * directions both allow, the token's credentials over the fixed ones).
 *
 * Error messages name the setting and what it accepts, never a value: a
 * misplaced quote must not print a password into the log.
 * @module
 */
import { logDebug } from "../base/log.ts";
import { nearest } from "../base/text.ts";
import {
  CLIPBOARD_MODES,
  type ClipboardMode,
  isEmptyPolicy,
  parseClipboardMode,
  type RfbPolicy,
} from "../rfb/policy.ts";

/** A token's settings, typed; every field absent = the token asks for nothing. */
export interface TargetSettings {
  /** `password`: the VNC (VncAuth or VeNCrypt Plain) password vncws answers the server with. */
  password?: string;
  /** `username`: the VeNCrypt Plain user name (needs `password`). */
  username?: string;
  /** `view_only`: the viewer's input is dropped. */
  viewOnly?: boolean;
  /** `clipboard`: which way clipboard text may go. */
  clipboard?: ClipboardMode;
  /** `max_duration`: seconds the session may last (0 = no limit of its own). */
  maxDuration?: number;
  /** `expires`: Unix time (seconds) after which the token is invalid and its session ends. */
  expires?: number;
}

/** The setting names, as token files, JSON fields and JWT claims spell them. */
export const SETTING_NAMES: readonly string[] = [
  "password",
  "username",
  "view_only",
  "clipboard",
  "max_duration",
  "expires",
];

/** A setting that cannot be read; the message names the setting, never its value. */
export class SettingsError extends Error {
  /** The setting's name, when the error is about one. */
  readonly key?: string;
  /** `message` says what is wrong and what is allowed. */
  constructor(message: string, key?: string) {
    super(message);
    this.name = "SettingsError";
    this.key = key;
  }
}

const NUMBER_TEXT = /^\d+(\.\d+)?$/;

/** A non-negative number, from JSON or its text; `what` names the unit in the message. */
function seconds(key: string, raw: unknown, what: string): number {
  const n = typeof raw === "number"
    ? raw
    : typeof raw === "string" && NUMBER_TEXT.test(raw)
    ? Number(raw)
    : NaN;
  if (!Number.isFinite(n) || n < 0) {
    throw new SettingsError(`${key} must be a number of ${what} (0 or more)`, key);
  }
  return n;
}

function secret(key: string, raw: unknown): string {
  if (typeof raw !== "string" || raw === "") {
    throw new SettingsError(`${key} must be a non-empty string`, key);
  }
  return raw;
}

/** Reads one setting's value into `out`; throws a {@linkcode SettingsError}. */
function setOne(out: TargetSettings, key: string, raw: unknown): void {
  switch (key) {
    case "password":
      out.password = secret(key, raw);
      return;
    case "username":
      out.username = secret(key, raw);
      return;
    case "view_only":
      if (raw === true || raw === "true") out.viewOnly = true;
      else if (raw === false || raw === "false") out.viewOnly = false;
      else throw new SettingsError("view_only must be true or false", key);
      return;
    case "clipboard": {
      const mode = typeof raw === "string" ? parseClipboardMode(raw) : undefined;
      if (!mode) {
        throw new SettingsError(`clipboard must be one of ${CLIPBOARD_MODES.join(", ")}`, key);
      }
      out.clipboard = mode;
      return;
    }
    case "max_duration":
      out.maxDuration = seconds(key, raw, "seconds");
      return;
    case "expires":
      out.expires = seconds(key, raw, "seconds since 1970 (Unix time)");
      return;
  }
  const canonical = canonicalName(key);
  const guess = SETTING_NAMES.includes(canonical) ? canonical : nearest(canonical, SETTING_NAMES);
  throw new SettingsError(
    `unknown setting "${key}"${guess ? ` (did you mean ${guess}?)` : ""}; the settings are ${
      SETTING_NAMES.join(", ")
    }`,
    key,
  );
}

/**
 * A field name as a setting name would be spelt: lower case, `-` and
 * camelCase humps as `_` (`VIEW_ONLY`, `viewOnly`, `View-Only` → `view_only`).
 */
function canonicalName(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase().replaceAll("-", "_");
}

/**
 * Checks what only the whole set can show; returns undefined for an empty
 * set. A `username` without a `password` is an error where vncws defines
 * the shape (`strict`, token file lines); in a JSON answer or JWT it is
 * usually the application's user, not a VNC one, and is dropped.
 */
function finish(out: TargetSettings, strict: boolean): TargetSettings | undefined {
  if (out.username !== undefined && out.password === undefined) {
    if (strict) throw new SettingsError("username needs a password as well", "username");
    // The name itself is personal data: only that it was dropped is logged.
    logDebug("token answer's username ignored: it comes without a password");
    delete out.username;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

const KEY = /[A-Za-z_][A-Za-z0-9_-]*=/y;
const SPACE = /\s/;

/**
 * Parses the `key=value` words after a token file's target (see the module
 * doc for quoting). Undefined when `text` holds none; throws a
 * {@linkcode SettingsError} for an unknown key, a bad value, a key given
 * twice or an unclosed quote.
 */
export function parseSettingsWords(text: string): TargetSettings | undefined {
  const out: TargetSettings = {};
  const seen = new Set<string>();
  let i = 0;
  let index = 0;
  for (;;) {
    while (i < text.length && SPACE.test(text[i])) i++;
    if (i >= text.length) break;
    index++;
    KEY.lastIndex = i;
    const m = KEY.exec(text);
    if (!m) {
      throw new SettingsError(
        `setting ${index} after the target is not key=value (known keys: ${
          SETTING_NAMES.join(", ")
        })`,
      );
    }
    const key = m[0].slice(0, -1);
    i = KEY.lastIndex;
    let value = "";
    const quote = text[i];
    if (quote === '"' || quote === "'") {
      i++;
      for (;;) {
        if (i >= text.length) {
          throw new SettingsError(`the quoted value of ${key} has no closing ${quote}`, key);
        }
        const c = text[i++];
        if (c === quote) break;
        if (c === "\\" && quote === '"' && (text[i] === '"' || text[i] === "\\")) {
          value += text[i++];
        } else value += c;
      }
      if (i < text.length && !SPACE.test(text[i])) {
        throw new SettingsError(
          `the quoted value of ${key} must be followed by a space or the end of the line`,
          key,
        );
      }
    } else {
      while (i < text.length && !SPACE.test(text[i])) value += text[i++];
    }
    if (seen.has(key)) throw new SettingsError(`${key} is given twice`, key);
    seen.add(key);
    setOne(out, key, value);
  }
  return finish(out, true);
}

/** Options for {@linkcode settingsFromObject}. */
export interface ObjectSettingsOptions {
  /** Fields the backend reads itself (`host`, `port`, a JWT's registered claims): skipped. */
  own: readonly string[];
  /**
   * True: any other field is an error (an answer shape vncws defines, such
   * as a token module's). False: other fields are ignored, as websockify's
   * JSON and JWT backends ignore them, except one that looks like a
   * misspelt setting (`viewOnly`, `view-only`, `VIEW_ONLY`, compared after
   * lower-casing and turning `-` and camelCase into `_`), which is an
   * error: a view-only session must not silently become a full one. Also
   * false: a `username` without a `password` (often the application's
   * user) is dropped instead of being an error.
   */
  strict: boolean;
}

/**
 * Reads the settings among a JSON object's fields or a JWT's claims.
 * Undefined when there are none; throws a {@linkcode SettingsError}.
 */
export function settingsFromObject(
  obj: Record<string, unknown>,
  options: ObjectSettingsOptions,
): TargetSettings | undefined {
  const out: TargetSettings = {};
  for (const [key, raw] of Object.entries(obj)) {
    if (options.own.includes(key)) continue;
    if (!SETTING_NAMES.includes(key) && !options.strict) {
      // Compared in the settings' own spelling, so `VIEW_ONLY` or
      // `viewOnly` is refused as a misspelt view_only, not ignored.
      const canonical = canonicalName(key);
      if (!SETTING_NAMES.includes(canonical) && !nearest(canonical, SETTING_NAMES)) continue;
    }
    if (raw === null && SETTING_NAMES.includes(key)) continue;
    setOne(out, key, raw);
  }
  return finish(out, options.strict);
}

/** True when the settings' `expires` has passed at `now` (ms since the epoch). */
export function settingsExpired(settings: TargetSettings | undefined, now: number): boolean {
  return settings?.expires !== undefined && settings.expires * 1000 <= now;
}

/** What a route takes from the fixed policy and a token's answer. */
export interface RouteSettings {
  /** The session's RFB policy; absent when it asks for nothing (the plain relay). */
  rfb?: RfbPolicy;
  /** Seconds the session may last (the token's `max_duration`), absent = no limit of its own. */
  maxDuration?: number;
  /** When the session ends (ms): the earlier of the token's `expires` and a JWT's `exp`. */
  expiresAt?: number;
}

/** Which directions each clipboard mode allows: [server → viewer, viewer → server]. */
const DIRECTIONS: Record<ClipboardMode, readonly [boolean, boolean]> = {
  "both": [true, true],
  "to-client": [true, false],
  "to-server": [false, true],
  "none": [false, false],
};

/** The clipboard mode that allows only the directions both `a` and `b` allow. */
export function intersectClipboard(a: ClipboardMode, b: ClipboardMode): ClipboardMode {
  const toClient = DIRECTIONS[a][0] && DIRECTIONS[b][0];
  const toServer = DIRECTIONS[a][1] && DIRECTIONS[b][1];
  return toClient ? (toServer ? "both" : "to-client") : (toServer ? "to-server" : "none");
}

/**
 * Combines the fixed policy (the options') with a token's settings, the
 * stricter winning: view-only when either says so, the clipboard directions
 * both allow, the token's credentials else the fixed ones. `expiresAt` is a
 * backend's own expiry (a JWT's `exp`, ms); the earlier of it and
 * `expires` is the route's.
 */
export function routeSettings(
  fixed: RfbPolicy | undefined,
  settings?: TargetSettings,
  expiresAt?: number,
): RouteSettings {
  const credentials = settings?.password !== undefined
    ? {
      password: settings.password,
      ...(settings.username !== undefined ? { username: settings.username } : {}),
    }
    : fixed?.credentials;
  const policy: RfbPolicy = {
    ...(credentials ? { credentials } : {}),
    viewOnly: (fixed?.viewOnly ?? false) || (settings?.viewOnly ?? false),
    clipboard: intersectClipboard(fixed?.clipboard ?? "both", settings?.clipboard ?? "both"),
  };
  const expires = settings?.expires !== undefined ? settings.expires * 1000 : undefined;
  const out: RouteSettings = {};
  if (!isEmptyPolicy(policy)) out.rfb = policy;
  if (settings?.maxDuration) out.maxDuration = settings.maxDuration;
  const at = Math.min(expires ?? Infinity, expiresAt ?? Infinity);
  if (at !== Infinity) out.expiresAt = at;
  return out;
}
