// Why a connection ended, in words. A browser hides the HTTP status of a
// refused WebSocket upgrade (the page sees close code 1006 and nothing else),
// so the page asks vncws (once before connecting, and after such a failure):
// a plain GET of the same URL
// with `X-Vncws-Probe: 1` gets the same routing decision as JSON,
// `{"ok":true}` or `{"ok":false,"status":404,"reason":"..."}`, and may say
// `"viewOnly":true` when the server enforces view-only for the session.

/** The http(s) URL a ws(s) URL is probed at. */
export function probeUrl(wsUrl) {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === "wss:" ? "https:" : "http:";
  return u.href;
}

/**
 * Asks vncws what it would do with `wsUrl`. Null when it cannot tell (an
 * older vncws, another proxy, another origin, the network).
 */
export async function probe(wsUrl) {
  try {
    const res = await fetch(probeUrl(wsUrl), {
      headers: { "X-Vncws-Probe": "1" },
      cache: "no-store",
      credentials: "same-origin",
    });
    if (!(res.headers.get("content-type") ?? "").includes("json")) return null;
    const body = await res.json();
    if (body === null || typeof body !== "object" || typeof body.ok !== "boolean") return null;
    return {
      ok: body.ok,
      status: Number.isInteger(body.status) ? body.status : res.status,
      reason: typeof body.reason === "string" ? body.reason : "",
      viewOnly: body.viewOnly === true,
    };
  } catch {
    return null;
  }
}

/** What vncws's close reasons mean to the person reading them. */
const CLOSE_WORDS = [
  [/^target closed$/i, "the VNC server ended the connection"],
  [/^target connection failed$|^target write failed$/i, "the connection to the VNC server broke"],
  [/^going away$/i, "vncws is shutting down"],
];

/** A close reason from vncws, reworded where vncws's words are for operators. */
export function closeWords(reason) {
  for (const [re, words] of CLOSE_WORDS) if (re.test(reason)) return words;
  return reason;
}

/** A refusal answered by the probe, e.g. "refused by the proxy (404): unknown token". */
export function refusalWords(answer) {
  const why = answer.reason ? `: ${answer.reason}` : "";
  return `refused by the proxy (HTTP ${answer.status})${why}`;
}

/** Whether retrying can help after this refusal (not for a bad token or a ban). */
export function worthRetrying(answer) {
  return answer === null || answer.ok || answer.status === 429 || answer.status >= 500;
}
