/**
 * Which listener the proxy accepts on, in this order: systemd socket
 * activation, `--inetd` (a listening socket on fd 0), `--unix-listen`, a
 * `node:net` listener for `--ssl-only` (TLS on the native socket costs far
 * less than TLS over a Deno socket) or for a `--workers` relay process (a
 * port shared with SO_REUSEPORT), else a TCP listener.
 * @module
 */
import type { Config } from "../config/config.ts";
import { describeListener, openTcpListener } from "../net/tcp_listener.ts";
import { openUnixListener } from "../net/unix_listener.ts";
import { inheritedListener, listenFdsListener } from "../service/systemd.ts";

/** The chosen listener, and what to clean up once it is closed. */
export interface ProxyListener {
  /** The listener to accept on. */
  listener: Deno.Listener;
  /** How to name it in log lines (`unix:PATH`, `[::]:6080`). */
  description: string;
  /** After the listener closed: removes the `--unix-listen` socket this process made. */
  cleanup?: () => void;
}

/**
 * Opens the proxy's listener for `config`. `nodeTls` is true when a TLS
 * server is configured (only then does `--ssl-only` use the node listener).
 */
export async function openProxyListener(config: Config, nodeTls: boolean): Promise<ProxyListener> {
  const named = (listener: Deno.Listener) => ({
    listener,
    description: describeListener(listener),
  });
  const activated = await listenFdsListener();
  if (activated) return named(activated);
  if (config.inetd) return named(await inheritedListener(0));
  if (config.unixListen !== undefined) {
    const unix = await openUnixListener(config.unixListen, config.unixListenMode);
    return {
      listener: unix.listener,
      description: `unix:${config.unixListen}`,
      cleanup: unix.removeSocket,
    };
  }
  if (config.worker) {
    // --workers: each relay process listens on the port with SO_REUSEPORT (see node_listener.ts).
    const { openNodeListener } = await import("../net/node_listener.ts");
    return named(await openNodeListener(config.listen!, { reusePort: true }));
  }
  if (config.tls.sslOnly && nodeTls) {
    const { openNodeListener } = await import("../net/node_listener.ts");
    return named(await openNodeListener(config.listen!));
  }
  return named(openTcpListener({ addr: config.listen!, preferIpv6: config.preferIpv6 }));
}
