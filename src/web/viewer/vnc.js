// vncws viewer: a small page around noVNC's RFB class. It reads noVNC's URL
// parameters (query string, or after "#" so a password is not sent to the
// server): host, port, path, encrypt, password, autoconnect, view_only,
// resize (scale|remote|off), reconnect, reconnect_delay, shared, quality,
// compression, show_dot, and token.

// noVNC's core/ is served beside this page but is not beside this file in the
// source tree, so a non-literal import keeps `deno check src/` from resolving it.
const { default: RFB } = await import(new URL("core/rfb.js", import.meta.url).href);

const params = new URLSearchParams(location.search);
for (const [k, v] of new URLSearchParams(location.hash.slice(1))) params.set(k, v);

function param(name, fallback) {
  const v = params.get(name);
  return v === null || v === "" ? fallback : v;
}

function flag(name, fallback) {
  const v = params.get(name);
  if (v === null || v === "") return fallback;
  return !["0", "false", "no", "off"].includes(v.toLowerCase());
}

function number(name, fallback) {
  const n = Number.parseInt(param(name, ""), 10);
  return Number.isFinite(n) ? n : fallback;
}

const el = (id) => document.getElementById(id);
const statusEl = el("status");
const screen = el("screen");
const buttons = {
  connect: el("connect"),
  disconnect: el("disconnect"),
  ctrlaltdel: el("ctrlaltdel"),
};
const credentialsForm = el("credentials");
const clipboard = el("clipboard");

let rfb = null;
let failure = null;
// The server's close reason (e.g. "token expired", "session time limit"): noVNC's
// disconnect event does not carry it, so the page opens the WebSocket itself.
let closeReason = "";
let userDisconnect = false;
let reconnectTimer = null;

function setStatus(state, text) {
  statusEl.dataset.state = state;
  statusEl.textContent = text;
  const live = rfb !== null;
  buttons.connect.disabled = live;
  buttons.disconnect.disabled = !live;
  buttons.ctrlaltdel.disabled = state !== "connected" || flag("view_only", false);
}

function websocketUrl() {
  const encrypt = flag("encrypt", location.protocol === "https:");
  let host = param("host", location.hostname);
  if (host.includes(":") && !host.startsWith("[")) host = `[${host}]`;
  const port = param("port", location.port);
  let path = param("path", "websockify").replace(/^\/+/, "");
  const token = params.get("token");
  if (token !== null && !/[?&]token=/.test(path)) {
    path += (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
  }
  return `${encrypt ? "wss" : "ws"}://${host}${port ? ":" + port : ""}/${path}`;
}

function applyResize() {
  const mode = param("resize", "off");
  rfb.scaleViewport = mode === "scale";
  rfb.resizeSession = mode === "remote";
}

function connect() {
  if (rfb !== null) return;
  clearTimeout(reconnectTimer);
  failure = null;
  closeReason = "";
  userDisconnect = false;
  const password = params.get("password");
  const options = { shared: flag("shared", true) };
  if (password !== null) options.credentials = { password };
  try {
    const socket = new WebSocket(websocketUrl());
    // Registered before noVNC's own handler, so the reason is known when it reports.
    socket.addEventListener("close", (e) => {
      closeReason = e.reason;
    });
    rfb = new RFB(screen, socket, options);
  } catch (e) {
    rfb = null;
    setStatus("failed", `Failed: ${e.message}`);
    return;
  }
  setStatus("connecting", "Connecting");
  rfb.viewOnly = flag("view_only", false);
  rfb.showDotCursor = flag("show_dot", false);
  rfb.qualityLevel = number("quality", 6);
  rfb.compressionLevel = number("compression", 2);
  applyResize();
  rfb.addEventListener("connect", () => {
    setStatus("connected", "Connected");
    credentialsForm.hidden = true;
    if (!rfb.viewOnly) rfb.focus();
  });
  rfb.addEventListener("disconnect", (e) => {
    rfb = null;
    credentialsForm.hidden = true;
    if (failure !== null) setStatus("failed", `Failed: ${failure}`);
    else if (userDisconnect) setStatus("disconnected", "Disconnected");
    else if (e.detail.clean) {
      setStatus("disconnected", closeReason ? `Disconnected: ${closeReason}` : "Disconnected");
    } else setStatus("failed", `Failed: ${closeReason || "connection closed unexpectedly"}`);
    if (!userDisconnect && flag("reconnect", false)) {
      reconnectTimer = setTimeout(connect, number("reconnect_delay", 5000));
    }
  });
  rfb.addEventListener("securityfailure", (e) => {
    failure = e.detail.reason || `security negotiation failed (status ${e.detail.status})`;
  });
  rfb.addEventListener("credentialsrequired", (e) => {
    const types = e.detail.types;
    el("username-row").hidden = !types.includes("username");
    credentialsForm.hidden = false;
    setStatus("credentials", "Password required");
    (types.includes("username") ? el("username") : el("password")).focus();
  });
  rfb.addEventListener("desktopname", (e) => {
    el("desktop-name").textContent = e.detail.name;
    document.title = `${e.detail.name} - vncws`;
  });
  rfb.addEventListener("clipboard", (e) => {
    clipboard.value = e.detail.text;
  });
}

function disconnect() {
  clearTimeout(reconnectTimer);
  userDisconnect = true;
  if (rfb !== null) rfb.disconnect();
}

credentialsForm.addEventListener("submit", (e) => {
  e.preventDefault();
  if (rfb === null) return;
  const creds = { password: el("password").value };
  if (!el("username-row").hidden) creds.username = el("username").value;
  credentialsForm.hidden = true;
  setStatus("connecting", "Connecting");
  rfb.sendCredentials(creds);
});
buttons.connect.addEventListener("click", connect);
buttons.disconnect.addEventListener("click", disconnect);
buttons.ctrlaltdel.addEventListener("click", () => rfb?.sendCtrlAltDel());
el("fullscreen").addEventListener("click", () => {
  if (document.fullscreenElement) document.exitFullscreen();
  else document.documentElement.requestFullscreen().catch(() => {});
});
el("clipboard-send").addEventListener("click", () => rfb?.clipboardPasteFrom(clipboard.value));

setStatus("disconnected", "Disconnected");
if (flag("autoconnect", false)) connect();
