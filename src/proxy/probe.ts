/**
 * The route probe. A browser's WebSocket API hides the HTTP status of a
 * refused upgrade (the page only sees close code 1006), so a viewer may ask
 * first: a plain `GET` (or `HEAD`) of the WebSocket URL carrying
 * `X-Vncws-Probe: 1` gets the decision the upgrade would get, as JSON
 * (src/proxy/refuse.ts builds both forms): `{"ok":true}` (with
 * `"viewOnly":true` for a view-only route), or the refusal's own status,
 * headers and reason.
 *
 * A probe takes exactly the upgrade's route step (address lists, handshake
 * rate, auth plugin, token lookup, target policy, per-IP and per-token
 * limits) and its refusals count toward a ban as a failed upgrade does, so
 * it is no faster way to try tokens. It holds no slot (the route is
 * released at once) and connects nothing.
 * @module
 */
import type { ClientInfo } from "../auth/client.ts";
import { isRefusal, type Refusal } from "../auth/refusal.ts";
import { logDebug } from "../base/log.ts";
import { findHeadEnd, type HeadLimits, parseRequestHead, type RequestHead } from "../http/head.ts";
import { writeResponse } from "../http/response.ts";
import type { ByteStream } from "../net/stream.ts";
import { isUpgradeRequest } from "../ws/handshake.ts";
import type { Access } from "./context.ts";
import { logPath, probeAdmitted } from "./refuse.ts";

/** The request header that makes a plain GET of the WebSocket URL a probe (value `1`). */
export const PROBE_HEADER: string = "X-Vncws-Probe";

/** Whether `head` is a route probe: GET or HEAD, no upgrade, `X-Vncws-Probe: 1`. */
export function isProbeRequest(head: RequestHead): boolean {
  return (head.method === "GET" || head.method === "HEAD") && !isUpgradeRequest(head) &&
    head.headers.get(PROBE_HEADER.toLowerCase())?.trim() === "1";
}

/**
 * Whether the bytes a client sent first already hold a whole probe request:
 * a banned peer is refused before its head is read, and its probe should
 * still get the JSON form. False when the head is not complete in them
 * (nothing more is read for this).
 */
export function probeInFirstBytes(initial: Uint8Array, limits: HeadLimits): boolean {
  const end = findHeadEnd(initial);
  if (end < 0) return false;
  try {
    return isProbeRequest(parseRequestHead(initial.subarray(0, end), limits));
  } catch {
    return false;
  }
}

/**
 * Answers a probe: routes it as the upgrade would be, releases the route at
 * once and writes `{"ok":true}`; resolves the refusal instead (the caller
 * answers it in the JSON form and counts it toward a ban).
 */
export async function answerProbe(
  stream: ByteStream,
  head: RequestHead,
  client: ClientInfo,
  access: Pick<Access, "route">,
  tokenPathPrefix?: string,
): Promise<Refusal | undefined> {
  const route = await access.route(head, client);
  if (isRefusal(route)) return route;
  // The probe holds no slot: a session may take it right after.
  route.release();
  const viewOnly = route.rfb?.viewOnly === true;
  logDebug("http", {
    client: stream.peer,
    method: head.method,
    path: logPath(head.path, tokenPathPrefix),
    status: 200,
    probe: true,
    token: route.label,
  });
  await writeResponse(stream, probeAdmitted(viewOnly), { headOnly: head.method === "HEAD" });
  return undefined;
}
