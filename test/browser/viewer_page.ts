/**
 * Helpers of the bundled viewer's browser tests: console errors that matter,
 * whether this vncws serves the viewer's optional endpoints (operator settings,
 * the route probe), Xtigervnc with a painted root window,
 * and a silent target that keeps the viewer at "Connecting".
 * @module
 */
import type { Page } from "playwright-core";
import {
  freePort,
  hasCommand,
  startVncws,
  startXtigervnc,
  writeVncPasswordFile,
} from "../../scripts/testing/util.ts";
import { listenTcp } from "../../scripts/testing/targets.ts";
import { hex, launchBrowser } from "./_browser.ts";

/**
 * Collects the page's script errors and console errors. A 404 of
 * vnc_settings.json or of the route probe is no error: the page works without
 * them (a vncws without the viewerd branch, or `--web DIR`). Nor is a message
 * matching one of `expected` (noVNC logs a failure the test provokes).
 */
export function collectErrors(page: Page, expected: RegExp[] = []): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const url = m.location().url ?? "";
    const optional = /\/vnc_settings\.json$|\/websockify(\?|$)/.test(url);
    if (optional && /status of 404/.test(m.text())) return;
    if (expected.some((re) => re.test(m.text()))) return;
    errors.push(`${m.text()} (${url})`);
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  return errors;
}

/** Whether vncws at `base` answers `GET /vnc_settings.json` (the viewerd branch). */
export async function servesViewerSettings(base: string): Promise<boolean> {
  const res = await fetch(`${base}/vnc_settings.json`);
  await res.body?.cancel();
  return res.ok;
}

/** Whether vncws at `base` answers the route probe with JSON (the viewerd branch). */
export async function servesProbe(base: string, path = "websockify"): Promise<boolean> {
  const res = await fetch(`${base}/${path}`, { headers: { "X-Vncws-Probe": "1" } });
  const json = (res.headers.get("content-type") ?? "").includes("json");
  await res.body?.cancel();
  return json;
}

/** Whether this vncws knows an option (`--help` names it). */
export async function vncwsHasOption(main: string, option: string): Promise<boolean> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, "--help"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return text.includes(option);
}

/** A running Xtigervnc (util.ts startXtigervnc). */
export interface Xvnc {
  display: number;
  rfbPort: number;
  stop(): Promise<void>;
}

/** The programs {@linkcode startXvnc} needs. */
export const XVNC_PROGRAMS = ["Xtigervnc", "tigervncpasswd", "xsetroot"];

/** A VNC password file for `password` in `dir` (util.ts writeVncPasswordFile). */
export async function vncPasswordFile(dir: string, password: string): Promise<string> {
  await writeVncPasswordFile(`${dir}/passwd`, password);
  return `${dir}/passwd`;
}

/**
 * Starts Xtigervnc (util.ts startXtigervnc: a free display, RFB on a free
 * port of 127.0.0.1) with VncAuth (`passwordFile`) or no security, and paints
 * the root window `background`.
 */
export async function startXvnc(
  options: { passwordFile?: string; geometry?: string; background: number },
): Promise<Xvnc> {
  if (!hasCommand("Xtigervnc")) {
    throw new Error("Xtigervnc missing: apt-get install tigervnc-standalone-server");
  }
  const x = await startXtigervnc({
    passwordFile: options.passwordFile,
    geometry: options.geometry ?? "640x480",
    depth: 24,
  });
  const st = await new Deno.Command("xsetroot", {
    args: ["-solid", hex(options.background)],
    env: { DISPLAY: `:${x.display}` },
  }).output();
  if (!st.success) {
    await x.stop();
    throw new Error(`xsetroot failed: ${new TextDecoder().decode(st.stderr)}`);
  }
  return x;
}

/**
 * A TCP server on 127.0.0.1 that hands each connection to `serve`
 * (targets.ts listenTcp: closed when `serve` settles); `close()` ends them all.
 */
export function tcpServer(serve: (conn: Deno.Conn) => Promise<void>): {
  port: number;
  close(): void;
} {
  const server = listenTcp(serve);
  return { port: server.port, close: () => void server.close() };
}

/** A TCP server that accepts and never speaks: the viewer stays at "Connecting". */
export function silentTarget(): { port: number; close(): void } {
  const server = listenTcp(); // no handler: connections are held open, unread
  return { port: server.port, close: () => void server.close() };
}

/** Whether the page scrolls sideways (its content is wider than the window). */
export function scrollsSideways(page: Page): Promise<boolean> {
  return page.evaluate(() => {
    // Runs in the page: the DOM types are not in Deno's lib, hence `any`.
    const d = (globalThis as any).document.documentElement;
    return d.scrollWidth > d.clientWidth;
  });
}

/** What {@linkcode withViewer} hands its test. */
export interface ViewerRun {
  page: Page;
  /** `http://127.0.0.1:PORT` of the vncws under test. */
  base: string;
}

/**
 * Runs `fn` against a vncws started with `args`, its port, and `target` if
 * given, in a fresh browser; stops both, and fails on console errors (except
 * `expected` ones).
 */
export async function withViewer(
  args: string[],
  fn: (run: ViewerRun) => Promise<void>,
  options: { expected?: RegExp[]; target?: string } = {},
): Promise<void> {
  const port = freePort();
  const target = options.target === undefined ? [] : [options.target];
  const vncws = await startVncws([...args, String(port), ...target]);
  const browser = await launchBrowser();
  try {
    const errors = collectErrors(browser.page, options.expected);
    await fn({ page: browser.page, base: `http://127.0.0.1:${port}` });
    if (errors.length > 0) throw new Error(`console errors in the viewer:\n${errors.join("\n")}`);
  } finally {
    await browser.close();
    await vncws.stop();
  }
}
