/**
 * Listening on TCP the way websockify does: a bare port listens on every
 * interface, dual-stack on `[::]` where IPv6 exists, else on 0.0.0.0; and a
 * listener's address as text for log lines.
 * @module
 */
import type { HostPort } from "./address.ts";
import { formatHostPort } from "./address.ts";

/** Where to listen over TCP. (`--unix-listen` opens through unix_listener.ts.) */
export interface TcpListenSpec {
  /** Address and port; hostname "" = every interface. */
  addr: HostPort;
  /** `--prefer-ipv6`. */
  preferIpv6?: boolean;
}

/** Opens a TCP listener. A bare port (hostname "") listens dual-stack on `[::]`, or 0.0.0.0 without IPv6. */
export function openTcpListener(spec: TcpListenSpec): Deno.Listener {
  const { hostname, port } = spec.addr;
  if (hostname === "") {
    try {
      return Deno.listen({ hostname: "::", port });
    } catch (e) {
      if (e instanceof Deno.errors.AddrInUse) throw e;
      return Deno.listen({ hostname: "0.0.0.0", port });
    }
  }
  return Deno.listen({ hostname, port });
}

/** Human-readable address of a listener. */
export function describeListener(l: Deno.Listener): string {
  const a = l.addr;
  if (a.transport === "tcp" || a.transport === "udp") return formatHostPort(a.hostname, a.port);
  return `unix:${(a as Deno.UnixAddr).path}`;
}
