/**
 * The demo desktop's picture: colour bars, a grey ramp, a ticker and a clock
 * that move once a second, a box that changes colour with every key press,
 * the last clipboard text, the last power action asked for (xvp), and dots
 * where the pointer clicks. Listeners get
 * the rectangles that changed, so RFB clients only receive what moved.
 * @module
 */
import { glyph, GLYPH_HEIGHT, GLYPH_WIDTH } from "./font.ts";

/** A rectangle in framebuffer pixels. */
export interface Rect {
  /** Left edge. */
  x: number;
  /** Top edge. */
  y: number;
  /** Width. */
  w: number;
  /** Height. */
  h: number;
}

/** Options for {@linkcode DemoDesktop}. */
export interface DemoDesktopOptions {
  /** Framebuffer width in pixels (default 800). */
  width?: number;
  /** Framebuffer height in pixels (default 600). */
  height?: number;
  /** Desktop name sent in ServerInit (default "vncws demo"). */
  name?: string;
}

/** Colour bars, left to right (0xRRGGBB). */
export const BAR_COLOURS: readonly number[] = [
  0xffffff,
  0xffff00,
  0x00ffff,
  0x00ff00,
  0xff00ff,
  0xff0000,
  0x0000ff,
  0x000000,
];

/** Background of the text panel. */
export const PANEL_COLOUR = 0x102040;
/** Background of the key box before any key was pressed. */
export const KEY_BOX_IDLE_COLOUR = 0x404040;
/** Colour of the power line's text ("POWER: REBOOT"). */
export const POWER_INK = 0xff6060;
const TICKER_COLOUR = 0x202020;
const TICKER_SLOTS = 16;
const BUTTON_COLOURS = [0xff8000, 0x80ff80, 0x8080ff, 0xffffff, 0xffffff];

/** The xvp power actions the demo shows (it never acts on them). */
export type PowerAction = "shutdown" | "reboot" | "reset";

/** Called with each rectangle that changed. */
export type DamageListener = (rect: Rect) => void;

/**
 * The unused top byte of every stored pixel is 0xff. In the native format
 * it is the padding byte on the wire, and noVNC 1.3 (Debian's `novnc`)
 * draws raw rectangles with that byte as alpha when they arrive in parts,
 * so a 0 there shows as transparent.
 */
const OPAQUE = 0xff000000;

/** The picture shared by every client of one demo server. */
export class DemoDesktop {
  /** Framebuffer width in pixels. */
  readonly width: number;
  /** Framebuffer height in pixels. */
  readonly height: number;
  /** Desktop name sent in ServerInit. */
  readonly name: string;
  /** Pixels as 0xRRGGBB, row-major. */
  readonly pixels: Uint32Array;
  /** Text regions, exposed so tests can look at the right place. */
  readonly layout: {
    clock: Rect;
    key: Rect;
    clip: Rect;
    power: Rect;
    ticker: Rect;
    bars: Rect;
  };
  #scale: number;
  #listeners = new Set<DamageListener>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #clockText = "";
  #tick = 0;
  #keyText = "PRESS A KEY";
  #lastKeysym: number | undefined;
  #keyColour = KEY_BOX_IDLE_COLOUR;
  #clipText = "CLIPBOARD: (EMPTY)";
  #power: PowerAction | undefined;

  /** A desktop of the given size and name, with the test picture drawn. */
  constructor(options: DemoDesktopOptions = {}) {
    this.width = options.width ?? 800;
    this.height = options.height ?? 600;
    this.name = options.name ?? "vncws demo";
    if (
      !Number.isInteger(this.width) || !Number.isInteger(this.height) ||
      this.width < 16 || this.height < 16 || this.width > 8192 || this.height > 8192
    ) {
      throw new RangeError(
        `demo desktop size ${this.width}x${this.height} is invalid: use integers from 16 to 8192`,
      );
    }
    this.pixels = new Uint32Array(this.width * this.height);
    const w = this.width, h = this.height;
    this.#scale = Math.max(1, Math.floor(w / 100));
    const s = this.#scale;
    const barsH = Math.floor(h * 0.45);
    const rampH = Math.floor(h * 0.05);
    const tickerH = Math.max(4, Math.floor(h * 0.04));
    const panelY = barsH + rampH + tickerH;
    const small = Math.max(1, Math.floor(s / 2));
    const line = (scale: number) => (GLYPH_HEIGHT + 2) * scale;
    const titleY = panelY + small * 2;
    const clockY = titleY + line(small) + small;
    const keyY = clockY + line(s) + small;
    const clipY = keyY + line(small) + small * 3;
    const powerY = clipY + line(small) + small;
    this.layout = {
      bars: { x: 0, y: 0, w, h: barsH },
      ticker: { x: 0, y: barsH + rampH, w, h: tickerH },
      clock: { x: 0, y: clockY, w, h: line(s) },
      key: { x: small * 4, y: keyY, w: Math.floor(w / 2), h: line(small) + small * 2 },
      clip: { x: 0, y: clipY, w, h: line(small) },
      power: { x: 0, y: powerY, w, h: line(small) },
    };
    this.#drawStatic(barsH, rampH, panelY, titleY, small);
    this.#drawTicker();
    this.#drawClock(new Date());
    this.#drawKeyBox();
    this.#drawClip();
    this.#drawPower();
  }

  /** Registers a damage listener; the clock runs while at least one is registered. */
  subscribe(listener: DamageListener): () => void {
    this.#listeners.add(listener);
    if (this.#timer === undefined) this.#schedule();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0 && this.#timer !== undefined) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  /** The keysym of the last key pressed (the one the key box shows); undefined before any. */
  get lastKeysym(): number | undefined {
    return this.#lastKeysym;
  }

  /** A key went down or up (X11 keysym). Each press recolours the key box. */
  keyEvent(down: boolean, keysym: number): void {
    if (!down) return;
    this.#lastKeysym = keysym;
    const printable = keysym >= 0x20 && keysym <= 0x7e ? ` ${String.fromCharCode(keysym)}` : "";
    this.#keyText = `KEY ${keysym.toString(16).toUpperCase().padStart(4, "0")}${printable}`;
    this.#keyColour = keyColour(keysym);
    this.#drawKeyBox();
    this.#damage(this.layout.key);
  }

  /** Pointer moved or clicked: a pressed button leaves a dot. */
  pointerEvent(buttonMask: number, x: number, y: number): void {
    if (buttonMask === 0) return;
    const button = Math.min(BUTTON_COLOURS.length - 1, Math.log2(buttonMask & -buttonMask));
    const r = Math.max(2, this.#scale);
    const rect = this.#clip({ x: x - r, y: y - r, w: 2 * r + 1, h: 2 * r + 1 });
    if (rect.w <= 0 || rect.h <= 0) return;
    for (let py = rect.y; py < rect.y + rect.h; py++) {
      for (let px = rect.x; px < rect.x + rect.w; px++) {
        if ((px - x) ** 2 + (py - y) ** 2 <= r * r) {
          this.pixels[py * this.width + px] = (BUTTON_COLOURS[button] | OPAQUE) >>> 0;
        }
      }
    }
    this.#damage(rect);
  }

  /** The client's clipboard text is shown in the panel. */
  cutText(text: string): void {
    const oneLine = text.replace(/\s+/g, " ").trim();
    this.#clipText = `CLIPBOARD: ${oneLine.length > 40 ? oneLine.slice(0, 40) + "..." : oneLine}`;
    this.#drawClip();
    this.#damage(this.layout.clip);
  }

  /** The last power action a viewer asked for (xvp); undefined before any. */
  get lastPower(): PowerAction | undefined {
    return this.#power;
  }

  /**
   * A viewer asked to shut down, reboot or reset the machine: the demo only
   * shows it ("POWER: REBOOT"), so a test sees the request arrived and the
   * session goes on.
   */
  power(action: PowerAction): void {
    this.#power = action;
    this.#drawPower();
    this.#damage(this.layout.power);
  }

  /** Advances the ticker and redraws the clock (the timer calls this once a second). */
  tick(now: Date = new Date()): void {
    this.#tick++;
    this.#drawTicker();
    this.#damage(this.layout.ticker);
    if (this.#drawClock(now)) this.#damage(this.layout.clock);
  }

  #schedule(): void {
    // Fire just after each wall-clock second so the clock changes in step.
    const delay = 1000 - (Date.now() % 1000) + 5;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.tick();
      if (this.#listeners.size > 0) this.#schedule();
    }, delay);
  }

  #damage(rect: Rect): void {
    const r = this.#clip(rect);
    if (r.w <= 0 || r.h <= 0) return;
    for (const l of this.#listeners) l(r);
  }

  #clip(r: Rect): Rect {
    const x = Math.max(0, r.x), y = Math.max(0, r.y);
    const x2 = Math.min(this.width, r.x + r.w), y2 = Math.min(this.height, r.y + r.h);
    return { x, y, w: Math.max(0, x2 - x), h: Math.max(0, y2 - y) };
  }

  #fill(rect: Rect, colour: number): void {
    const r = this.#clip(rect);
    for (let y = r.y; y < r.y + r.h; y++) {
      const row = y * this.width;
      this.pixels.fill((colour | OPAQUE) >>> 0, row + r.x, row + r.x + r.w);
    }
  }

  /** Draws text with its top-left corner at (x, y), clipped to `bounds`. */
  #text(text: string, at: { x: number; y: number }, scale: number, colour: number, bounds: Rect) {
    const clip = this.#clip(bounds);
    let cx = at.x;
    for (const ch of text) {
      const bits = glyph(ch);
      for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
        for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
          if (!bits[gy * GLYPH_WIDTH + gx]) continue;
          const x0 = Math.max(clip.x, cx + gx * scale);
          const y0 = Math.max(clip.y, at.y + gy * scale);
          const x1 = Math.min(clip.x + clip.w, cx + (gx + 1) * scale);
          const y1 = Math.min(clip.y + clip.h, at.y + (gy + 1) * scale);
          for (let y = y0; y < y1; y++) {
            if (x1 > x0) {
              this.pixels.fill((colour | OPAQUE) >>> 0, y * this.width + x0, y * this.width + x1);
            }
          }
        }
      }
      cx += (GLYPH_WIDTH + 1) * scale;
    }
  }

  #drawStatic(barsH: number, rampH: number, panelY: number, titleY: number, small: number): void {
    const w = this.width;
    for (let i = 0; i < BAR_COLOURS.length; i++) {
      const x0 = Math.floor((i * w) / BAR_COLOURS.length);
      const x1 = Math.floor(((i + 1) * w) / BAR_COLOURS.length);
      this.#fill({ x: x0, y: 0, w: x1 - x0, h: barsH }, BAR_COLOURS[i]);
    }
    for (let x = 0; x < w; x++) {
      const v = Math.floor((x * 255) / Math.max(1, w - 1));
      this.#fill({ x, y: barsH, w: 1, h: rampH }, (v << 16) | (v << 8) | v);
    }
    const panel = { x: 0, y: panelY, w, h: this.height - panelY };
    this.#fill(panel, PANEL_COLOUR);
    this.#text(
      `VNCWS DEMO ${this.width}X${this.height}`,
      { x: small * 4, y: titleY },
      small,
      0xc0c0c0,
      panel,
    );
  }

  #drawTicker(): void {
    const t = this.layout.ticker;
    this.#fill(t, TICKER_COLOUR);
    const slot = this.#tick % TICKER_SLOTS;
    const x0 = Math.floor((slot * t.w) / TICKER_SLOTS);
    const x1 = Math.floor(((slot + 1) * t.w) / TICKER_SLOTS);
    this.#fill({ x: x0, y: t.y + 1, w: x1 - x0, h: t.h - 2 }, 0xffffff);
  }

  /** Returns true when the clock text changed. */
  #drawClock(now: Date): boolean {
    const pad = (n: number) => String(n).padStart(2, "0");
    const text = `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
    if (text === this.#clockText) return false;
    this.#clockText = text;
    const c = this.layout.clock;
    this.#fill(c, PANEL_COLOUR);
    const textW = text.length * (GLYPH_WIDTH + 1) * this.#scale;
    this.#text(
      text,
      { x: Math.max(0, Math.floor((this.width - textW) / 2)), y: c.y + this.#scale },
      this.#scale,
      0xffffff,
      c,
    );
    return true;
  }

  #drawKeyBox(): void {
    const k = this.layout.key;
    const small = Math.max(1, Math.floor(this.#scale / 2));
    this.#fill(k, this.#keyColour);
    const ink = luminance(this.#keyColour) > 128 ? 0x000000 : 0xffffff;
    this.#text(this.#keyText, { x: k.x + small * 2, y: k.y + small * 2 }, small, ink, k);
  }

  #drawClip(): void {
    this.#drawLine(this.layout.clip, this.#clipText, 0xffd080);
  }

  #drawPower(): void {
    const text = this.#power === undefined ? "" : `POWER: ${this.#power.toUpperCase()}`;
    this.#drawLine(this.layout.power, text, POWER_INK);
  }

  /** One line of small text on the panel's colour, filling `r`. */
  #drawLine(r: Rect, text: string, ink: number): void {
    const small = Math.max(1, Math.floor(this.#scale / 2));
    this.#fill(r, PANEL_COLOUR);
    this.#text(text, { x: small * 4, y: r.y + small }, small, ink, r);
  }
}

/** A distinct, saturated colour per keysym. */
export function keyColour(keysym: number): number {
  const hue = (keysym * 47) % 360;
  const f = (n: number) => {
    const k = (n + hue / 60) % 6;
    return Math.round(255 * (1 - Math.max(0, Math.min(k, 4 - k, 1))));
  };
  return (f(5) << 16) | (f(3) << 8) | f(1);
}

function luminance(rgb: number): number {
  return 0.299 * ((rgb >> 16) & 0xff) + 0.587 * ((rgb >> 8) & 0xff) + 0.114 * (rgb & 0xff);
}
