// Viewer settings: one value per key, from (strongest first) the operator's
// mandatory settings, the URL (noVNC's parameter names), what the person chose
// in the settings panel (localStorage), the operator's defaults, and the
// built-in default. The operator's files come from vncws as vnc_settings.json;
// without it (an older vncws, --web DIR) there are none.

/** The settings the panel shows, with their built-in defaults (noVNC's). */
export const PANEL = {
  resize: { kind: "choice", choices: ["off", "scale", "remote"], fallback: "off" },
  quality: { kind: "int", min: 0, max: 9, fallback: 6 },
  compression: { kind: "int", min: 0, max: 9, fallback: 2 },
  shared: { kind: "bool", fallback: true },
  view_only: { kind: "bool", fallback: false },
  show_dot: { kind: "bool", fallback: false },
  reconnect: { kind: "bool", fallback: false },
  reconnect_delay: { kind: "int", min: 0, max: 3600000, fallback: 5000 },
  touch_mode: { kind: "choice", choices: ["direct", "trackpad"], fallback: "direct" },
  logging: {
    kind: "choice",
    choices: ["none", "error", "warn", "info", "debug"],
    fallback: "warn",
  },
};

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

/** noVNC's reading of a flag: anything but 0, false, no and off is true. */
export function isTrue(text) {
  return !["0", "false", "no", "off"].includes(String(text).trim().toLowerCase());
}

/** The parsed value of `text` for a panel setting, or undefined if it does not fit. */
export function parse(key, text) {
  const spec = PANEL[key];
  if (text === null || text === undefined || text === "") return undefined;
  const t = String(text).trim();
  if (spec === undefined) return t;
  if (spec.kind === "bool") return isTrue(t);
  if (spec.kind === "int") {
    const n = Number.parseInt(t, 10);
    return Number.isFinite(n) ? Math.min(spec.max, Math.max(spec.min, n)) : undefined;
  }
  if (key === "resize" && t === "none") return "off";
  return spec.choices.includes(t) ? t : undefined;
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
