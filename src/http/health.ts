/**
 * The two health answers, `/healthz` (the process runs) and `/readyz`
 * (vncws takes new sessions), written once for both places that serve
 * them: the `--metrics` listener and the proxy's own port, where a load
 * balancer checks the port it sends traffic to.
 * @module
 */
import type { RequestHead } from "./head.ts";
import type { HttpResponse } from "./response.ts";

/** Readiness as `/readyz` reports it. */
export interface Readiness {
  /** Whether vncws takes new sessions. */
  ok: boolean;
  /** Why not ready (shown in the 503 body). */
  why?: string;
  /** Ready but degraded (e.g. `--state-redis` unreachable): a second line of the 200 body. */
  warning?: string;
}

/** A health answer: its status and its plain-text body. */
export interface HealthAnswer {
  /** 200, or 503 from `/readyz` when not ready. */
  status: number;
  /** One line of text: `ok`, `ready` or `not ready: <why>`. */
  body: string;
}

/** The answer for `path`, or undefined when `path` is not `/healthz` or `/readyz`. */
export function healthAnswer(path: string, ready: () => Readiness): HealthAnswer | undefined {
  if (path === "/healthz") return { status: 200, body: "ok\n" };
  if (path !== "/readyz") return undefined;
  const r = ready();
  if (!r.ok) return { status: 503, body: `not ready: ${r.why ?? "unknown reason"}\n` };
  return { status: 200, body: r.warning ? `ready\nwarning: ${r.warning}\n` : "ready\n" };
}

/** Headers of every health answer: plain text that no cache keeps. */
const HEALTH_HEADERS: Readonly<Record<string, string>> = {
  "Content-Type": "text/plain; charset=utf-8",
  "Cache-Control": "no-store",
};

/**
 * The response to a `GET` or `HEAD` of a health path; undefined for any
 * other request (it goes on to the web side).
 */
export function healthResponse(
  head: RequestHead,
  ready: () => Readiness,
): HttpResponse | undefined {
  if (head.method !== "GET" && head.method !== "HEAD") return undefined;
  const answer = healthAnswer(head.path, ready);
  return answer && { status: answer.status, headers: { ...HEALTH_HEADERS }, body: answer.body };
}
