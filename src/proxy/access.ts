/**
 * Routing and access for a session, in one place and one order:
 * client address (trusted proxies) → handshake rate → address lists,
 * Origin and auth plugin → token → target → concurrency limits.
 * Every refusal is an HTTP status with a short reason, sent before the
 * upgrade and before the target is connected.
 * @module
 */
import type { Config } from "../config.ts";
import { HttpError, type RequestHead } from "../http/head.ts";
import { type HttpResponse, textResponse } from "../http/response.ts";
import type { Target } from "../net/address.ts";
import type { Authorizer } from "../auth/authorize.ts";
import { clientAddress } from "../auth/client_ip.ts";
import { isRefusal, type Limiter } from "../auth/limits.ts";
import { extractToken } from "../route/token_location.ts";
import { TokenBackendError, tokenHash, type TokenResolver } from "../route/token.ts";
import { logWarn } from "../ops/log.ts";
import type { ClientInfo, RouteResult } from "./session.ts";

/** The pieces {@linkcode createRouter} combines; each is optional. */
export interface AccessParts {
  /** The fixed target (CLI target, `--unix-target`, demo, wrap) when there is no token plugin. */
  target?: () => Target | undefined;
  tokens?: TokenResolver;
  authorizer?: Authorizer;
  limiter?: Limiter;
}

/** `1.2.3.4:5` → `1.2.3.4`, `[::1]:5` → `::1`, `unix` → `unix`. */
export function peerIp(peer: string): string {
  if (peer.startsWith("[")) return peer.slice(1, peer.indexOf("]"));
  const i = peer.lastIndexOf(":");
  return i < 0 ? peer : peer.slice(0, i);
}

/** Builds the session's route function. */
export function createRouter(
  config: Config,
  parts: AccessParts,
): (head: RequestHead, client: ClientInfo) => Promise<RouteResult> {
  const trusted = config.trustedProxies;
  return async (head, client) => {
    const address = clientAddress(peerIp(client.peer), head, trusted);
    client.address = address;
    const early = parts.limiter?.handshake(address);
    if (early) return early;
    const denied = await parts.authorizer?.check(head, {
      address,
      clientCertCN: client.clientCertCN,
    });
    if (denied) return denied;

    let target: Target | undefined;
    let label: string | undefined;
    if (parts.tokens) {
      let token: string | undefined;
      try {
        token = extractToken(head, {
          hostToken: config.hostToken,
          pathPrefix: config.tokenPathPrefix,
        });
      } catch (e) {
        if (e instanceof HttpError) return textResponse(e.status, e.message);
        throw e;
      }
      if (token === undefined) {
        return textResponse(
          403,
          "token missing: add ?token=NAME to the WebSocket URL (or /websockify/NAME)",
        );
      }
      label = tokenHash(token);
      try {
        target = (await parts.tokens.lookup(token)) ?? undefined;
      } catch (e) {
        if (e instanceof TokenBackendError) {
          logWarn("token backend unavailable", { token: label, error: e.message });
          return textResponse(503, "the token backend is unavailable, try again later");
        }
        throw e;
      }
      if (!target) return textResponse(404, `unknown token (${label})`);
    } else {
      target = parts.target?.();
      if (!target) return textResponse(404, "no target is configured for this server");
    }

    let release: (() => void) | undefined;
    if (parts.limiter) {
      const slot = parts.limiter.hold(address, label);
      if (isRefusal(slot)) return slot as HttpResponse;
      release = () => slot.release();
    }
    return { target, label, release };
  };
}
