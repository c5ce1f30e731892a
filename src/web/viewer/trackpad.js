// Trackpad mode for touch screens: the finger moves the remote pointer by how
// far it slides (a relative pointer, like a laptop's trackpad) instead of
// pointing where it touches. One-finger tap: left click; two-finger tap: right
// click; two-finger slide: scroll; tap then touch again and slide: drag.
//
// It turns touches into the mouse events noVNC already handles on its canvas,
// so noVNC's own input path (button masks, view-only, throttling) stays the
// one that talks to the server. Touches are taken in the capture phase, before
// noVNC's gesture handler sees them.

const SPEED = 1.5; // remote pixels per CSS pixel the finger slides
const TAP_MS = 250;
const TAP_SLOP = 10; // CSS pixels a tap may wander
const SCROLL_STEP = 40;

/** Turns trackpad mode on for touches inside `screen`; returns an object with `enabled`. */
export function setupTrackpad(screen) {
  const state = {
    enabled: false,
    x: -1,
    y: -1,
    start: null,
    fingers: 0,
    lastTapEnd: 0,
    dragging: false,
    moved: 0,
    scrollY: 0,
  };
  const canvas = () => screen.querySelector("canvas");

  /** The client coordinates of the remote pointer. */
  const client = (c) => {
    const r = c.getBoundingClientRect();
    const sx = r.width / (c.width || 1);
    const sy = r.height / (c.height || 1);
    return { clientX: r.left + state.x * sx, clientY: r.top + state.y * sy, sx, sy };
  };

  const mouse = (type, button, buttons) => {
    const c = canvas();
    if (!c) return;
    const { clientX, clientY } = client(c);
    const ev = new MouseEvent(type, {
      bubbles: true,
      cancelable: true,
      clientX,
      clientY,
      button,
      buttons,
    });
    // While noVNC holds the pointer capture after a press, it listens on window.
    (document.captureElement && type !== "mousedown" ? window : c).dispatchEvent(ev);
  };

  const wheel = (deltaY) => {
    const c = canvas();
    if (!c) return;
    const { clientX, clientY } = client(c);
    c.dispatchEvent(
      new WheelEvent("wheel", { bubbles: true, cancelable: true, clientX, clientY, deltaY }),
    );
  };

  const click = (button) => {
    const mask = button === 2 ? 2 : 1;
    mouse("mousedown", button, mask);
    mouse("mouseup", button, 0);
  };

  const centre = (t) => {
    let x = 0, y = 0;
    for (const p of t) {
      x += p.clientX;
      y += p.clientY;
    }
    return { x: x / t.length, y: y / t.length };
  };

  const onStart = (e) => {
    if (!state.enabled) return;
    e.preventDefault();
    e.stopPropagation();
    const c = canvas();
    if (c && state.x < 0) {
      state.x = c.width / 2;
      state.y = c.height / 2;
    }
    state.fingers = Math.max(state.fingers, e.touches.length);
    if (e.touches.length === 1) {
      state.start = { ...centre(e.touches), at: performance.now() };
      state.moved = 0;
      // A touch right after a tap starts a drag (left button held).
      if (performance.now() - state.lastTapEnd < TAP_MS * 1.5) {
        state.dragging = true;
        mouse("mousedown", 0, 1);
      }
    }
    state.last = centre(e.touches);
  };

  const onMove = (e) => {
    if (!state.enabled) return;
    e.preventDefault();
    e.stopPropagation();
    const c = canvas();
    if (!c) return;
    const now = centre(e.touches);
    const dx = now.x - state.last.x;
    const dy = now.y - state.last.y;
    state.last = now;
    state.moved += Math.abs(dx) + Math.abs(dy);
    if (e.touches.length >= 2) {
      state.scrollY += dy;
      while (Math.abs(state.scrollY) >= SCROLL_STEP) {
        const step = Math.sign(state.scrollY) * SCROLL_STEP;
        wheel(-step);
        state.scrollY -= step;
      }
      return;
    }
    const { sx, sy } = client(c);
    state.x = Math.min(c.width - 1, Math.max(0, state.x + dx * SPEED / sx));
    state.y = Math.min(c.height - 1, Math.max(0, state.y + dy * SPEED / sy));
    mouse("mousemove", 0, state.dragging ? 1 : 0);
  };

  const onEnd = (e) => {
    if (!state.enabled) return;
    e.preventDefault();
    e.stopPropagation();
    if (e.touches.length > 0) return;
    const quick = state.start && performance.now() - state.start.at < TAP_MS;
    const still = state.moved < TAP_SLOP;
    if (state.dragging) {
      mouse("mouseup", 0, 0);
      state.dragging = false;
      state.lastTapEnd = 0;
    } else if (quick && still) {
      click(state.fingers >= 2 ? 2 : 0);
      state.lastTapEnd = state.fingers >= 2 ? 0 : performance.now();
    }
    state.fingers = 0;
    state.scrollY = 0;
  };

  for (
    const [type, fn] of [
      ["touchstart", onStart],
      ["touchmove", onMove],
      ["touchend", onEnd],
      ["touchcancel", onEnd],
    ]
  ) {
    screen.addEventListener(type, fn, { capture: true, passive: false });
  }
  return state;
}
