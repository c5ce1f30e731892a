// Viewer settings: one value per key, from (strongest first) the operator's
// mandatory settings, the URL (noVNC's parameter names), what the person chose
// in the settings panel (localStorage), the operator's defaults, and the
// built-in default. The operator's files come from vncws as vnc_settings.json;
// without it (an older vncws, --web DIR) there are none.

import { isTrue, PANEL, parse } from "./panel.js";

export { isTrue, PANEL, parse };

const STORAGE_KEY = "vncws.viewer.settings";

/** Connection parameters accepted from the URL and the operator, never stored. */
const CONNECTION = [
  "host",
  "port",
  "path",
  "encrypt",
  "autoconnect",
  "token",
  "password",
  "username",
];

function readStored() {
  try {
    const v = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "{}");
    return v !== null && typeof v === "object" ? v : {};
  } catch {
    return {}; // storage off (private mode, sandboxed frame) or damaged
  }
}

function asText(v) {
  return v === null || v === undefined ? null : String(v);
}

function plainObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? v : {};
}

/** Fetches the operator's settings; none when vncws does not serve them. */
export async function loadOperatorSettings(url = "vnc_settings.json") {
  try {
    const res = await fetch(url, { cache: "no-store" });
    if (!res.ok) return { defaults: {}, mandatory: {} };
    const body = await res.json();
    return { defaults: plainObject(body?.defaults), mandatory: plainObject(body?.mandatory) };
  } catch {
    return { defaults: {}, mandatory: {} };
  }
}

/**
 * The page's settings. `url` maps parameter names to text (query, then the
 * part after "#", which wins so a password need not reach the server).
 */
export class Settings {
  constructor(url, operator) {
    this.url = url;
    this.defaults = operator.defaults;
    this.mandatory = operator.mandatory;
    this.stored = readStored();
    /** Keys the server enforces (e.g. view_only), with the value it enforces. */
    this.enforced = {};
  }

  /** Why a panel setting cannot be changed: "server", "operator" or "" (free). */
  lockedBy(key) {
    if (key in this.enforced) return "server";
    return parse(key, asText(this.mandatory[key])) !== undefined ? "operator" : "";
  }

  /** The value of `key`, strongest source first. */
  get(key) {
    if (key in this.enforced) return this.enforced[key];
    const sources = [this.mandatory[key], this.url.get(key), this.stored[key], this.defaults[key]];
    for (const s of sources) {
      const v = parse(key, asText(s));
      if (v !== undefined) return v;
    }
    return PANEL[key]?.fallback ?? null;
  }

  /** The operator's value of `key` (mandatory, else default) as text, or null. */
  fromOperator(key) {
    return asText(this.mandatory[key]) ?? asText(this.defaults[key]);
  }

  /** True when `key` has a value from any source (connection parameters). */
  has(key) {
    return CONNECTION.includes(key) && this.get(key) !== null;
  }

  /**
   * The person's choice in the panel: kept for the next visit. It also wins over
   * the URL for the rest of this visit (the URL wins again on the next load).
   */
  set(key, value) {
    if (this.lockedBy(key) !== "") return false;
    this.stored[key] = value;
    this.url.delete(key);
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(this.stored));
    } catch { /* storage off: the choice lasts for this visit only */ }
    return true;
  }

  /** The server enforces `value` for `key` (shown locked in the panel). */
  enforce(key, value) {
    this.enforced[key] = value;
  }
}

/** noVNC's URL parameters: the query string, then the fragment (which wins). */
export function urlParameters(loc = location) {
  const params = new URLSearchParams(loc.search);
  for (const [k, v] of new URLSearchParams(loc.hash.slice(1))) params.set(k, v);
  return params;
}
