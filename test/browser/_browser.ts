/**
 * Headless Chromium (Debian's /usr/bin/chromium via npm playwright-core) for
 * the viewer tests: a fresh profile per browser, status polling, canvas pixel
 * sampling, and screenshots saved under .out/test-screens/.
 * @module
 */
import { type BrowserContext, chromium, type Page } from "playwright-core";

/** Debian's Chromium. */
export const CHROMIUM = "/usr/bin/chromium";

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];

/** Where screenshots go (repo-relative `.out/test-screens/`). */
export const SCREENS_DIR = new URL("../../.out/test-screens/", import.meta.url).pathname;

/** A browser with an empty profile; `close()` removes the profile. */
export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/**
 * Launches Chromium with a new empty user-data-dir and opens one page.
 * `executablePath`: another way to start it (a script that runs Chromium in a
 * network namespace).
 */
export async function launchBrowser(executablePath = CHROMIUM): Promise<TestBrowser> {
  const profile = await Deno.makeTempDir({ prefix: "vncws-chromium-" });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ARGS,
    viewport: { width: 1024, height: 768 },
  });
  const page = context.pages()[0] ?? await context.newPage();
  return {
    context,
    page,
    async close() {
      await context.close().catch(() => {});
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}

/** Text of `#status` once it matches `pattern`; throws with the last text on timeout. */
export async function waitForStatus(
  page: Page,
  pattern: RegExp,
  timeoutMs = 15000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = "";
  while (Date.now() < deadline) {
    text = (await page.textContent("#status").catch(() => null)) ?? "";
    if (pattern.test(text)) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`#status never matched ${pattern}; last text: ${JSON.stringify(text)}`);
}

/** The remote screen's canvas size and the RGB of each requested framebuffer point. */
export function samplePixels(
  page: Page,
  points: Array<[number, number]>,
): Promise<{ width: number; height: number; rgb: number[] }> {
  return page.evaluate((pts) => {
    // Runs in the page: the DOM types are not in Deno's lib, hence `any`.
    const canvas = (globalThis as any).document.querySelector("#screen canvas");
    if (!canvas) throw new Error("no canvas in #screen");
    const ctx = canvas.getContext("2d");
    const rgb = pts.map(([x, y]) => {
      const d: Uint8ClampedArray = ctx.getImageData(x, y, 1, 1).data;
      return (d[0] << 16) | (d[1] << 8) | d[2];
    });
    return { width: canvas.width as number, height: canvas.height as number, rgb };
  }, points);
}

/** Saves a screenshot of the remote screen's canvas and prints its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await Deno.mkdir(SCREENS_DIR, { recursive: true });
  const path = `${SCREENS_DIR}${name}.png`;
  const canvas = await page.$("#screen canvas");
  if (canvas) await canvas.screenshot({ path });
  else await page.screenshot({ path });
  console.log(`screenshot: ${path}`);
  return path;
}

/** Saves a screenshot of the whole page (status bar included) and prints its path. */
export async function pageScreenshot(page: Page, name: string): Promise<string> {
  await Deno.mkdir(SCREENS_DIR, { recursive: true });
  const path = `${SCREENS_DIR}${name}.png`;
  await page.screenshot({ path });
  console.log(`screenshot: ${path}`);
  return path;
}

/** Formats 0xRRGGBB as #rrggbb for messages. */
export function hex(rgb: number): string {
  return "#" + rgb.toString(16).padStart(6, "0");
}

/**
 * Polls the first canvas of the page (noVNC's app has one, at least 800 wide
 * once the desktop is there) until the RGB at `points` is `want`, for up to
 * 15 s; returns what it read last.
 */
export async function waitForCanvasPixels(
  page: Page,
  points: number[][],
  want: number[],
): Promise<number[]> {
  let got: number[] = [];
  for (let i = 0; i < 150 && got.join() !== want.join(); i++) {
    await new Promise((r) => setTimeout(r, 100));
    got = await page.evaluate((pts) => {
      // Runs in the page: the DOM types are not in Deno's lib, hence `any`.
      const canvas = (globalThis as any).document.querySelector("canvas");
      if (!canvas || canvas.width < 800) return [];
      const ctx = canvas.getContext("2d");
      return pts.map(([x, y]: number[]) => {
        const d = ctx.getImageData(x, y, 1, 1).data;
        return (d[0] << 16) | (d[1] << 8) | d[2];
      });
    }, points);
  }
  return got;
}
