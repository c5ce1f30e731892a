/**
 * The RFB gateway step, between connect and relay (raw and WebSocket
 * sessions alike): when the session's policy holds credentials, or
 * `--rfb-auth` is set, vncws runs the RFB handshake with the VNC server
 * itself (src/rfb/client_handshake.ts) and hands the relay a stream that
 * offers the viewer security type None (src/rfb/gateway.ts). The viewer
 * never sees the server's password. A failure is told to the viewer as an
 * RFB failure reason, logged once (target and reason, never a secret) and
 * never retried, except once on a new connection when VeNCrypt turned out
 * to offer nothing usable while the server offered another type.
 * @module
 */
import type { Refusal } from "../auth/refusal.ts";
import { isRefusal } from "../auth/refusal.ts";
import { logDebug, logWarn } from "../base/log.ts";
import { formatTarget, type Target } from "../net/address.ts";
import type { ByteStream } from "../net/stream.ts";
import { tlsOverStream } from "../net/tls_client.ts";
import { readPem } from "../net/tls_files.ts";
import type { TargetTlsConfig } from "../net/tls_options.ts";
import {
  clientHandshake,
  type ClientHandshakeResult,
  DEFAULT_RFB_AUTH,
  type RfbAuthScheme,
} from "../rfb/client_handshake.ts";
import { RfbGatewayStream } from "../rfb/gateway.ts";
import type { Route } from "../route/router.ts";
import { raceTimeout, STOPPED, TIMEOUT } from "../base/time.ts";
import type { ProxyContext } from "./context.ts";

/** What the viewer is told when the one new connection failed (the log has the OS error). */
export const UNREACHABLE = "vncws could not reach the VNC server";

/** Whether a session on `route` goes through the gateway. */
export function needsGateway(route: Route, rfbAuth: readonly RfbAuthScheme[] | undefined): boolean {
  return rfbAuth !== undefined || route.rfb?.credentials !== undefined;
}

/** The name a VeNCrypt X509 server's certificate must be valid for. */
function certificateName(target: Target): string {
  // A unix socket has no host name: a local server's certificate names localhost.
  return target.kind === "tcp" ? target.name ?? target.hostname : "localhost";
}

/** Verified TLS over the RFB stream for VeNCrypt X509 subtypes; files read per use (renewals). */
function tlsStarter(
  tls: TargetTlsConfig,
  target: Target,
  timeoutMs: number,
): (stream: ByteStream) => Promise<ByteStream> {
  return async (stream) => {
    const ca = tls.ca ? await readPem(tls.ca, "--target-ca") : undefined;
    const cert = tls.cert ? await readPem(tls.cert, "--target-cert") : undefined;
    const key = tls.key ? await readPem(tls.key, "--target-key") : cert; // the key may sit in the certificate's file
    return await tlsOverStream(stream, {
      servername: certificateName(target),
      ca,
      cert,
      key: cert ? key : undefined,
      timeoutMs,
    });
  };
}

/**
 * Step 4½: `target` as the relay should see it. Sessions without a gateway
 * get `target` itself; the others get a gateway stream, authenticated or
 * refusing the viewer with the reason. `reconnect` opens a new connection
 * to the same target (the one try without VeNCrypt).
 */
export async function rfbStep(
  target: ByteStream,
  route: Route,
  ctx: ProxyContext,
  reconnect: () => Promise<ByteStream | Refusal>,
): Promise<ByteStream> {
  const { config } = ctx;
  if (!needsGateway(route, config.rfbAuth)) return target;
  const where = formatTarget(route.target);
  const timeoutMs = config.limits.connectTimeout * 1000;
  // A refused viewer has --head-timeout to read why; a silent one is then let go.
  const bound = { failureTimeoutMs: config.limits.headTimeout * 1000 };
  const run = async (
    stream: ByteStream,
    schemes: readonly RfbAuthScheme[],
  ): Promise<ClientHandshakeResult> => {
    const giveUp = new AbortController();
    const handshake = clientHandshake(stream, {
      credentials: route.rfb?.credentials,
      schemes,
      startTls: tlsStarter(config.targetTls, route.target, timeoutMs),
      signal: giveUp.signal,
    });
    const result = await raceTimeout(handshake, timeoutMs, ctx.signal);
    if (result !== TIMEOUT && result !== STOPPED) return result;
    // Ends the handshake still waiting: the raw stream here, a VeNCrypt TLS
    // stream over it in the handshake; one that got through just then too.
    giveUp.abort();
    stream.close();
    handshake.then((late) => late.ok && late.stream.close());
    const detail = result === STOPPED
      ? "vncws is shutting down"
      : `the VNC server did not finish the handshake within ${timeoutMs / 1000}s`;
    return { ok: false, refused: false, reason: detail, detail };
  };
  let server = target;
  const schemes = config.rfbAuth ?? DEFAULT_RFB_AUTH;
  let result = await run(server, schemes);
  if (!result.ok && result.retryWithout) {
    const without = result.retryWithout;
    logDebug("rfb gateway: trying again without one scheme", { target: where, without });
    server.close();
    const again = await reconnect();
    if (isRefusal(again)) {
      // The reason names the internal address and the OS error: the log's, not the viewer's.
      logWarn("rfb gateway failed", {
        target: where,
        token: route.label,
        reason: `connecting again to try without ${without} failed: ${again.reason}`,
      });
      return new RfbGatewayStream(server, UNREACHABLE, bound);
    }
    server = again;
    result = await run(server, schemes.filter((s) => s !== without));
  }
  if (!result.ok) {
    logWarn("rfb gateway failed", { target: where, token: route.label, reason: result.detail });
    server.close();
    return new RfbGatewayStream(server, result.reason, bound);
  }
  logDebug("rfb gateway authenticated", { target: where, security: result.security });
  return new RfbGatewayStream(result.stream);
}
