// vncws viewer: a small page around noVNC's RFB class. It takes noVNC's URL
// parameters (query string, or after "#" so a password is not sent to the
// server): host, port, path, encrypt, password, username, token, autoconnect,
// and the settings of the panel (settings.js: resize, quality, compression,
// shared, view_only, show_dot, reconnect, reconnect_delay, logging, and
// touch_mode, the one name of ours).

import { isTrue, loadOperatorSettings, PANEL, parse, Settings, urlParameters } from "./settings.js";
import { closeWords, probe, refusalWords, worthRetrying } from "./reasons.js";
import { setupKeys } from "./keys.js";
import { setupTrackpad } from "./trackpad.js";
import { initLogging } from "./novnc.js";
import { AudioPlayer, AudioRFB } from "./audio.js";

const settings = new Settings(urlParameters(), await loadOperatorSettings());

const el = (id) => document.getElementById(id);
const statusEl = el("status");
const screen = el("screen");
const credentialsForm = el("credentials");
const clipboard = el("clipboard");

/** The live connection, or null. */
let rfb = null;
/** What the current connection has seen (reset by connect()). */
let session = null;
/** Credentials typed after a wrong password, for the next connection. */
let retryCredentials = null;
let userDisconnect = false;
/** Failed attempts in a row, for the reconnect backoff. */
let attempts = 0;
let countdown = null;
/** What the server last asked for ("password", maybe "username"), for a new prompt. */
let lastTypes = ["password"];
/**
 * The route probe's answer before the first connection (it holds no slot,
 * unlike a probe while a session is up): null until one was admitted or
 * could not tell. It says whether vncws enforces view-only.
 */
let admitted = null;
/** True while the probe before connecting is out. */
let probing = false;

const flag = (key, fallback) => {
  const v = settings.get(key);
  return v === null ? fallback : isTrue(v);
};

// ---- status -------------------------------------------------------------

function setStatus(state, text) {
  statusEl.dataset.state = state;
  statusEl.textContent = text;
  const live = rfb !== null || probing;
  const waiting = countdown !== null;
  el("connect").disabled = live;
  el("disconnect").disabled = !live && !waiting;
  el("disconnect").textContent = waiting ? "Cancel" : "Disconnect";
  const input = state === "connected" && !settings.get("view_only");
  for (const b of el("keys").querySelectorAll("button")) b.disabled = !input;
  el("clipboard-send").disabled = !input;
}

function stopCountdown() {
  if (countdown !== null) clearInterval(countdown.timer);
  countdown = null;
}

/** Reconnects after a delay that doubles with each failure in a row (at most a minute). */
function scheduleReconnect(why) {
  const base = Math.max(1000, settings.get("reconnect_delay"));
  const delay = Math.min(60000, base * 2 ** Math.min(attempts, 6));
  attempts++;
  const due = Date.now() + delay;
  const tick = () => {
    const left = Math.ceil((due - Date.now()) / 1000);
    if (left <= 0) {
      stopCountdown();
      connect();
      return;
    }
    setStatus("reconnecting", `${why}. Reconnecting in ${left} s`);
  };
  countdown = { timer: setInterval(tick, 250) };
  tick();
}

// ---- connection ---------------------------------------------------------

/**
 * `host` or `port` for the connection: the page's own, or another only when
 * the operator's settings name it. A link's `host` could otherwise make
 * this page (vncws's own origin) ask for a password on someone else's VNC
 * server; the CSP (connect-src) refuses other origins the operator did not name.
 */
function endpoint(key, own) {
  const bare = (v) => String(v).replace(/^\[|\]$/g, "").toLowerCase();
  const value = settings.get(key);
  const operator = settings.fromOperator(key);
  if (value === null || bare(value) === bare(own) || value === operator) return value ?? own;
  console.warn(`vncws viewer: ignoring ${key}=${value}: it points away from this page's server`);
  return operator ?? own;
}

function websocketUrl() {
  const encrypt = flag("encrypt", location.protocol === "https:");
  let host = endpoint("host", location.hostname);
  if (host.includes(":") && !host.startsWith("[")) host = `[${host}]`;
  const port = endpoint("port", location.port);
  let path = (settings.get("path") ?? "websockify").replace(/^\/+/, "");
  const token = settings.get("token");
  if (token !== null && !/[?&]token=/.test(path)) {
    path += (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
  }
  return `${encrypt ? "wss" : "ws"}://${host}${port ? ":" + port : ""}/${path}`;
}

/** Puts a panel setting into effect on the live connection. */
function apply(key) {
  const v = settings.get(key);
  if (key === "logging") initLogging(v);
  if (key === "touch_mode") trackpad.enabled = v === "trackpad";
  if (rfb === null) return;
  if (key === "resize") {
    rfb.scaleViewport = v === "scale";
    rfb.resizeSession = v === "remote";
  }
  if (key === "quality") rfb.qualityLevel = v;
  if (key === "compression") rfb.compressionLevel = v;
  if (key === "show_dot") rfb.showDotCursor = v;
  if (key === "view_only") {
    rfb.viewOnly = v;
    setStatus(statusEl.dataset.state, statusEl.textContent);
  }
}

/**
 * Asks vncws once, before the first connection, what it would do with the
 * URL: a refusal is shown (with the countdown when retrying can help) and
 * nothing connects; an admission says whether view-only is enforced.
 */
async function probeFirst(url) {
  probing = true;
  setStatus("connecting", "Connecting");
  const answer = await probe(url);
  probing = false;
  if (userDisconnect) {
    setStatus("disconnected", "Disconnected");
    return false;
  }
  if (answer !== null && !answer.ok) {
    const words = `Failed: ${refusalWords(answer)}`;
    setStatus("failed", words);
    // Too many sessions or handshakes: it clears by itself, so the page tries again.
    if (answer.status === 429 || (worthRetrying(answer) && settings.get("reconnect"))) {
      scheduleReconnect(words);
    }
    return false;
  }
  admitted = answer ?? { ok: true, viewOnly: false };
  if (admitted.viewOnly) {
    settings.enforce("view_only", true);
    showSetting("view_only");
  }
  return true;
}

async function connect() {
  if (rfb !== null || probing) return;
  stopCountdown();
  userDisconnect = false;
  credentialsForm.hidden = true;
  const url = websocketUrl();
  if (admitted === null && !await probeFirst(url)) return;
  if (rfb !== null) return;
  const s = { url, connected: false, close: null, authFailure: null, gaveCredentials: false };
  session = s;
  const options = { shared: settings.get("shared") };
  const password = settings.get("password");
  const username = settings.get("username");
  if (retryCredentials !== null) options.credentials = retryCredentials;
  else if (password !== null) {
    options.credentials = username !== null ? { username, password } : { password };
  }
  s.gaveCredentials = options.credentials !== undefined;
  retryCredentials = null;
  try {
    const socket = new WebSocket(url);
    // Registered before noVNC's own handler, so the code and reason are known when it reports.
    socket.addEventListener("close", (e) => {
      s.close = { code: e.code, reason: e.reason };
    });
    rfb = new AudioRFB(screen, socket, options);
  } catch (e) {
    rfb = null;
    setStatus("failed", `Failed: ${e.message}`);
    return;
  }
  setStatus("connecting", "Connecting");
  for (const key of Object.keys(PANEL)) apply(key);
  rfb.addEventListener("connect", () => {
    s.connected = true;
    attempts = 0;
    setStatus("connected", "Connected");
    if (!rfb.viewOnly) rfb.focus();
  });
  rfb.addEventListener("disconnect", (e) => ended(s, e.detail.clean));
  rfb.addEventListener("securityfailure", (e) => {
    s.authFailure = e.detail.reason || `security negotiation failed (status ${e.detail.status})`;
  });
  rfb.addEventListener("credentialsrequired", (e) => askCredentials(e.detail.types, ""));
  rfb.addEventListener("desktopname", (e) => {
    // Text only, never markup: a server chooses this name (CVE-2017-18635).
    el("desktop-name").textContent = e.detail.name;
    document.title = `${e.detail.name} - vncws`;
  });
  rfb.addEventListener("clipboard", (e) => {
    clipboard.value = e.detail.text;
    // Into the device's clipboard too, where the browser allows it without asking.
    navigator.clipboard?.writeText(e.detail.text).catch(() => {});
  });
  rfb.addEventListener("capabilities", (e) => {
    el("power-panel").hidden = !e.detail.capabilities.power;
  });
  audio.attach(rfb);
  rfb.addEventListener("audioavailable", () => showAudio(true));
}

async function ended(s, clean) {
  if (session !== s) return; // an older connection's late report
  rfb = null;
  keys.release();
  el("power-panel").hidden = true;
  showAudio(false);
  credentialsForm.hidden = true;
  if (userDisconnect) {
    setStatus("disconnected", "Disconnected");
    return;
  }
  if (s.authFailure !== null) {
    if (s.gaveCredentials && !/too many|blacklist|blocked/i.test(s.authFailure)) {
      setStatus("credentials", `Wrong password (${s.authFailure})`);
      askCredentials(lastTypes, `The server refused the password: ${s.authFailure}`);
    } else {
      setStatus("failed", `Failed: ${s.authFailure}`);
    }
    return;
  }
  const close = s.close ?? { code: 1006, reason: "" };
  let words;
  let retry = true;
  if (close.reason) {
    words = closeWords(close.reason);
  } else if (s.connected) {
    words = close.code === 1006 ? "connection lost (code 1006)" : `closed (code ${close.code})`;
  } else {
    const answer = close.code === 1006 ? await probe(s.url) : null;
    if (session !== s) return; // a new connection started meanwhile
    if (answer !== null && !answer.ok) words = refusalWords(answer);
    else words = `connection failed (code ${close.code})`;
    retry = worthRetrying(answer);
  }
  const what = s.connected && clean ? "Disconnected" : "Failed";
  setStatus(s.connected && clean ? "disconnected" : "failed", `${what}: ${words}`);
  if (retry && settings.get("reconnect")) scheduleReconnect(`${what}: ${words}`);
}

function askCredentials(types, problem) {
  lastTypes = types;
  el("username-row").hidden = !types.includes("username");
  el("credentials-error").textContent = problem;
  el("credentials-error").hidden = problem === "";
  el("password").value = "";
  credentialsForm.hidden = false;
  if (problem === "") setStatus("credentials", "Password required");
  (types.includes("username") && el("username").value === "" ? el("username") : el("password"))
    .focus();
}

function disconnect() {
  userDisconnect = true;
  if (probing) return; // the probe's end shows it
  if (countdown !== null) {
    stopCountdown();
    setStatus("disconnected", "Disconnected");
  }
  if (rfb !== null) rfb.disconnect();
}

credentialsForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const creds = { password: el("password").value };
  if (!el("username-row").hidden) creds.username = el("username").value;
  credentialsForm.hidden = true;
  if (rfb !== null) {
    setStatus("connecting", "Connecting");
    if (session !== null) session.gaveCredentials = true;
    rfb.sendCredentials(creds);
  } else {
    // After a wrong password the server has closed: a new connection takes them.
    retryCredentials = creds;
    connect();
  }
});

// ---- settings panel -----------------------------------------------------

/** Shows a setting's value and whether it may be changed. */
function showSetting(key) {
  const input = el(`set-${key}`);
  const v = settings.get(key);
  if (input.type === "checkbox") input.checked = v;
  else input.value = String(v);
  const lock = settings.lockedBy(key);
  input.disabled = lock !== "";
  const note = el(`set-${key}-note`);
  if (note) {
    note.textContent = lock === "server"
      ? "enforced by the server"
      : lock === "operator"
      ? "set by the operator"
      : "";
  }
  if (key === "quality" || key === "compression") el(`set-${key}-value`).textContent = String(v);
}

for (const key of Object.keys(PANEL)) {
  const input = el(`set-${key}`);
  const note = document.createElement("small");
  note.id = `set-${key}-note`;
  note.className = "lock-note";
  input.closest("label").append(note);
  input.setAttribute("aria-describedby", note.id);
  showSetting(key);
  input.addEventListener(input.type === "checkbox" ? "change" : "input", () => {
    const value = input.type === "checkbox" ? input.checked : parse(key, input.value);
    if (value !== undefined && settings.set(key, value)) apply(key);
    showSetting(key);
  });
}

// ---- the rest of the bar --------------------------------------------------

const keys = setupKeys(() => rfb, el);
const trackpad = setupTrackpad(screen);

// ---- audio (QEMU's extension, audio.js) ------------------------------------

// Muted until pressed: browsers play sound only after a gesture on the page.
const audio = new AudioPlayer();
/** For tests and the curious: frames decoded, buffers scheduled, tone frequency. */
globalThis.vncwsAudio = audio.stats;

/** Shows (muted) or hides the sound toggle. */
function showAudio(shown) {
  if (audio.stats.enabled) audio.mute(null);
  el("audio").setAttribute("aria-pressed", "false");
  el("audio").hidden = !shown;
}

el("connect").addEventListener("click", connect);
el("disconnect").addEventListener("click", disconnect);
el("keys-toggle").addEventListener("click", (e) => {
  const open = e.currentTarget.getAttribute("aria-expanded") !== "true";
  e.currentTarget.setAttribute("aria-expanded", String(open));
  el("keys").hidden = !open;
});
el("fullscreen").addEventListener("click", () => {
  if (document.fullscreenElement) document.exitFullscreen();
  else document.documentElement.requestFullscreen().catch(() => {});
});
el("clipboard-send").addEventListener("click", () => rfb?.clipboardPasteFrom(clipboard.value));
el("clipboard-read").addEventListener("click", async () => {
  try {
    clipboard.value = await navigator.clipboard.readText();
    rfb?.clipboardPasteFrom(clipboard.value);
  } catch {
    el("clipboard-read").textContent = "Paste not allowed here";
  }
});
el("clipboard-read").hidden = !navigator.clipboard?.readText;
el("power-shutdown").addEventListener("click", () => rfb?.machineShutdown());
el("power-reboot").addEventListener("click", () => rfb?.machineReboot());
el("power-reset").addEventListener("click", () => rfb?.machineReset());
el("audio").addEventListener("click", async () => {
  if (rfb === null) return;
  const on = el("audio").getAttribute("aria-pressed") !== "true";
  el("audio").setAttribute("aria-pressed", String(on));
  if (on) await audio.unmute(rfb);
  else audio.mute(rfb);
});

// Coming back to the page: send the device's clipboard if the browser already
// lets the page read it (never asks here; the panel's button asks).
let lastLocalClip = null;
globalThis.addEventListener("focus", async () => {
  if (rfb === null || settings.get("view_only") || !navigator.permissions) return;
  try {
    const p = await navigator.permissions.query({ name: "clipboard-read" });
    if (p.state !== "granted") return;
    const text = await navigator.clipboard.readText();
    if (text !== lastLocalClip && text !== clipboard.value) {
      lastLocalClip = text;
      clipboard.value = text;
      rfb?.clipboardPasteFrom(text);
    }
  } catch { /* not supported or not allowed */ }
});

// The remote screen takes every key (Tab too), so a keyboard needs a way back
// out: Shift+F6 moves the focus to the bar. Taken before noVNC's own handler.
screen.addEventListener("keydown", (e) => {
  if (e.key !== "F6" || !e.shiftKey) return;
  e.preventDefault();
  e.stopPropagation();
  el("actions").querySelector("button:not(:disabled), summary").focus();
}, { capture: true });

// Escape closes the open menu and gives the focus back to its button.
document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape") return;
  const open = document.activeElement?.closest("details[open]");
  if (open) {
    open.open = false;
    open.querySelector("summary").focus();
  }
});

apply("logging");
apply("touch_mode");
setStatus("disconnected", "Disconnected");
if (flag("autoconnect", false)) connect();
