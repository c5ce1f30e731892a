// The viewer's panel settings: their keys, kinds, allowed values and
// built-in defaults (noVNC's), and how a value is read. The one list of
// them: the page (settings.js) and vncws's check of the operator's
// --viewer-defaults/--viewer-mandatory files (viewer_settings.ts) both use it.

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

/** The allowed values of a panel setting, in words (for an error message). */
export function allowedWords(key) {
  const spec = PANEL[key];
  if (spec.kind === "bool") return "true or false";
  if (spec.kind === "int") return `an integer from ${spec.min} to ${spec.max}`;
  return `one of ${spec.choices.map((c) => `"${c}"`).join(", ")}`;
}
