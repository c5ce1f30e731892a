/**
 * The one description of a client: {@linkcode ClientInfo}. The proxy fills
 * it from the connection (never from headers); routing adds the address
 * behind trusted proxies. Auth checks, routing, the session book and the
 * log lines all read this one type.
 * @module
 */

/** Who is on the other end of a connection, as far as vncws can tell. */
export interface ClientInfo {
  /** The transport peer: `ip:port`, `[v6]:port` or `unix`. */
  peer: string;
  /** The verified TLS client certificate's CN (from the TLS layer, never from headers). */
  clientCertCN?: string;
  /** The client IP after `--trusted-proxy` forwarding headers were applied (set by routing). */
  address?: string;
}

/** The IP text of a {@linkcode ClientInfo.peer} (`1.2.3.4:5`, `[::1]:5`), or `unix`. */
export function peerIp(peer: string): string {
  if (peer.startsWith("[")) return peer.slice(1, peer.indexOf("]"));
  const colon = peer.lastIndexOf(":");
  return colon > 0 && peer.indexOf(":") === colon ? peer.slice(0, colon) : peer;
}
