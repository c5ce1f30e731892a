/**
 * The step between connect and relay for sessions with a view-only or
 * clipboard policy: the target's stream is wrapped in the RFB policy filter
 * (src/rfb/filter.ts), its drops counted in the session book's metric and
 * its first drops logged with the session's fields. Sessions without such a
 * policy keep the target's stream as it is.
 * @module
 */
import type { ClientInfo } from "../auth/client.ts";
import { formatTarget } from "../net/address.ts";
import type { ByteStream } from "../net/stream.ts";
import { needsRfbFilter, RfbFilter } from "../rfb/filter.ts";
import type { Route } from "../route/router.ts";
import type { SessionObserver } from "./context.ts";

/** `target` wrapped in the filter `route`'s RFB policy asks for; undefined when it asks for none. */
export function policyFilter(
  target: ByteStream,
  route: Route,
  client: ClientInfo,
  sessions: SessionObserver,
): RfbFilter | undefined {
  if (!needsRfbFilter(route.rfb)) return undefined;
  return new RfbFilter(target, route.rfb, {
    onDrop: (kind) => sessions.rfbDropped?.(kind),
    logFields: { client: client.peer, target: formatTarget(route.target), token: route.label },
  });
}
