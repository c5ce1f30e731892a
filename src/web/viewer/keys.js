// The extra keys bar: keys a browser or a phone keyboard cannot send (Ctrl,
// Alt and Super held as toggles; Tab, Esc, Ctrl-Alt-Del, F1-F12 as taps), and
// the on-screen keyboard: a hidden text field whose input becomes key events.

import { keysyms, KeyTable } from "./novnc.js";

/** Toggle keys: button id → [keysym, KeyboardEvent.code]. */
const MODIFIERS = {
  "key-ctrl": [KeyTable.XK_Control_L, "ControlLeft"],
  "key-alt": [KeyTable.XK_Alt_L, "AltLeft"],
  "key-super": [KeyTable.XK_Super_L, "MetaLeft"],
};

/** Tap keys: button id → [keysym, code]. */
const TAPS = {
  "key-tab": [KeyTable.XK_Tab, "Tab"],
  "key-esc": [KeyTable.XK_Escape, "Escape"],
};

/** What the on-screen keyboard's own keys send (text arrives as input events). */
const FIELD_KEYS = {
  Enter: [KeyTable.XK_Return, "Enter"],
  Backspace: [KeyTable.XK_BackSpace, "Backspace"],
  Tab: [KeyTable.XK_Tab, "Tab"],
  Escape: [KeyTable.XK_Escape, "Escape"],
  ArrowLeft: [KeyTable.XK_Left, "ArrowLeft"],
  ArrowRight: [KeyTable.XK_Right, "ArrowRight"],
  ArrowUp: [KeyTable.XK_Up, "ArrowUp"],
  ArrowDown: [KeyTable.XK_Down, "ArrowDown"],
};

/** The field holds one character so that a phone's backspace has something to delete. */
const SENTINEL = "_";

/**
 * Wires the keys bar. `rfb()` returns the live connection or null.
 * Returns `release()`: lifts held modifiers (on disconnect).
 */
export function setupKeys(rfb, el) {
  const send = (keysym, code, down) => rfb()?.sendKey(keysym, code, down);

  for (const [id, [keysym, code]] of Object.entries(MODIFIERS)) {
    el(id).addEventListener("click", (e) => {
      const down = e.currentTarget.getAttribute("aria-pressed") !== "true";
      send(keysym, code, down);
      e.currentTarget.setAttribute("aria-pressed", String(down));
    });
  }
  for (const [id, [keysym, code]] of Object.entries(TAPS)) {
    el(id).addEventListener("click", () => send(keysym, code));
  }
  el("ctrlaltdel").addEventListener("click", () => rfb()?.sendCtrlAltDel());

  const fkeys = el("fkeys");
  for (let n = 1; n <= 12; n++) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = `F${n}`;
    b.addEventListener("click", () => {
      send(KeyTable.XK_F1 + n - 1, `F${n}`);
      fkeys.closest("details").open = false;
    });
    fkeys.append(b);
  }

  // The on-screen keyboard: focusing a text field is what brings it up.
  const field = el("osk-input");
  field.value = SENTINEL;
  el("osk").addEventListener("click", () => {
    field.focus();
    field.setSelectionRange(1, 1);
  });
  field.addEventListener("keydown", (e) => {
    const key = FIELD_KEYS[e.key];
    if (key === undefined) return;
    e.preventDefault();
    send(key[0], key[1]);
  });
  field.addEventListener("input", () => {
    const v = field.value;
    if (!v.startsWith(SENTINEL)) {
      send(KeyTable.XK_BackSpace, "Backspace"); // the sentinel itself was deleted
    }
    const text = v.startsWith(SENTINEL) ? v.slice(1) : v;
    for (const ch of text) {
      if (ch === "\n") send(KeyTable.XK_Return, "Enter");
      else send(keysyms.lookup(ch.codePointAt(0)));
    }
    field.value = SENTINEL;
    field.setSelectionRange(1, 1);
  });

  return {
    release() {
      for (const [id, [keysym, code]] of Object.entries(MODIFIERS)) {
        if (el(id).getAttribute("aria-pressed") === "true") {
          send(keysym, code, false);
          el(id).setAttribute("aria-pressed", "false");
        }
      }
    },
  };
}
