/**
 * The operator's viewer settings (`--viewer-defaults`, `--viewer-mandatory`),
 * the counterpart of noVNC 1.6's `defaults.json` and `mandatory.json`: JSON
 * objects whose keys are the viewer's URL parameter names (`resize`,
 * `quality`, `view_only`, `path`...) and whose values are strings, numbers or
 * booleans. Defaults give way to the page's URL; mandatory values do not.
 * The web side serves both at {@linkcode VIEWER_SETTINGS_PATH}.
 * @module
 */
import type { ViewerSettings } from "../config/config.ts";
import type { HttpResponse } from "../http/response.ts";
// The panel's keys and allowed values, the page's own list (one place).
import { allowedWords, PANEL, parse } from "./viewer/panel.js";

/** Where the web side serves the settings: `{"defaults": {...}, "mandatory": {...}}`. */
export const VIEWER_SETTINGS_PATH: string = "/vnc_settings.json";

/** Both sets of settings, as the page reads them. */
export interface ViewerSettingsPair {
  /** Values the page's URL may override. */
  defaults: ViewerSettings;
  /** Values that win over the page's URL. */
  mandatory: ViewerSettings;
}

/**
 * Checks the text of a settings file: a JSON object of string, number or
 * boolean values, each panel setting's a value the page can read. Throws an Error whose message names `what` (the option
 * and file) and says what to fix.
 */
export function parseViewerSettings(text: string, what: string): ViewerSettings {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(
      `${what} is not valid JSON (${(e as Error).message}); write an object ` +
        `such as {"resize": "scale", "quality": 6}`,
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(
      `${what} must hold a JSON object such as {"resize": "scale"}, ` +
        `not ${Array.isArray(value) ? "an array" : value === null ? "null" : typeof value}`,
    );
  }
  const out: ViewerSettings = {};
  for (const [key, v] of Object.entries(value)) {
    const ok = typeof v === "string" || typeof v === "boolean" ||
      (typeof v === "number" && Number.isFinite(v));
    if (!ok) {
      throw new Error(
        `${what}: "${key}" must be a string, number or boolean, ` +
          `not ${v === null ? "null" : Array.isArray(v) ? "an array" : typeof v}`,
      );
    }
    // A value the page cannot read would be silently ignored (a mandatory
    // one then locks nothing): refused here, at start.
    if (Object.hasOwn(PANEL, key) && parse(key, String(v)) === undefined) {
      throw new Error(
        `${what}: "${key}" is ${JSON.stringify(v)}, which the viewer cannot read; ` +
          `give ${allowedWords(key)}`,
      );
    }
    out[key] = v;
  }
  return out;
}

/** Reads and checks a settings file (see {@linkcode parseViewerSettings}). */
export function readViewerSettings(path: string, option: string): ViewerSettings {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
    throw new Error(`${option} ${path}: ${why}; give a JSON file of viewer settings`);
  }
  return parseViewerSettings(text, `${option} ${path}`);
}

/**
 * The answer to `GET /vnc_settings.json`: both sets, never cached without
 * asking again (a reload may change them). `headers` are the web side's
 * security headers.
 */
export function viewerSettingsResponse(
  settings: ViewerSettingsPair,
  headers: Record<string, string> = {},
): HttpResponse {
  const body = new TextEncoder().encode(
    JSON.stringify({ defaults: settings.defaults, mandatory: settings.mandatory }),
  );
  return {
    status: 200,
    headers: {
      ...headers,
      "Content-Type": "application/json; charset=utf-8",
      "Content-Length": String(body.length),
      "Cache-Control": "no-cache",
    },
    body,
  };
}
