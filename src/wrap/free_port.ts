/**
 * Picks the port the wrapped server is moved to: free on 127.0.0.1 and on
 * ::1 at the time of the check, because the shim moves IPv4 binds to
 * 127.0.0.1 and IPv6 binds to [::1] with the same port.
 *
 * The port is released before the server binds it, so another program can
 * take it in between; the supervisor's readiness error names the port, and
 * a respawn reuses it (as websockify does).
 * @module
 */

/** Options for {@linkcode freeLoopbackPort}. */
export interface FreePortOptions {
  /** How many candidate ports to try before giving up (default 50). */
  attempts?: number;
}

function tryListen(hostname: string, port: number): Deno.Listener | "in-use" | "no-family" {
  try {
    return Deno.listen({ hostname, port });
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) return "in-use";
    // No IPv6 on this host (EADDRNOTAVAIL / EAFNOSUPPORT): IPv4 alone is enough.
    return "no-family";
  }
}

/**
 * Returns a port that is free on both 127.0.0.1 and ::1 (or on 127.0.0.1
 * alone when the host has no IPv6 loopback). Throws after `attempts` tries.
 */
export function freeLoopbackPort(options: FreePortOptions = {}): number {
  const attempts = options.attempts ?? 50;
  for (let i = 0; i < attempts; i++) {
    const v4 = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (v4.addr as Deno.NetAddr).port;
    const v6 = tryListen("::1", port);
    v4.close();
    if (v6 === "in-use") continue;
    if (v6 !== "no-family") v6.close();
    return port;
  }
  throw new Error(
    `could not find a port free on both 127.0.0.1 and ::1 after ${attempts} tries; ` +
      "free some ephemeral ports or check the loopback interface",
  );
}
