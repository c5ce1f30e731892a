/**
 * Service-manager integration: systemd socket activation (`LISTEN_FDS`),
 * `--inetd` (a listening socket on fd 0, websockify's meaning) and
 * `sd_notify` (`READY=1` when `NOTIFY_SOCKET` is set).
 *
 * Deno 2.9 has no API to turn an inherited file descriptor into a
 * `Deno.Listener`, but `node:net` can listen on one:
 * `net.createServer().listen({ fd })` works for TCP and unix stream sockets
 * (measured). {@linkcode inheritedListener} wraps that server in the
 * `Deno.Listener` shape the accept loop uses (src/net/node_listener.ts).
 * @module
 */
import { logWarn } from "../base/log.ts";
import { openUnixDatagram } from "./unix_datagram.ts";

/** The first fd systemd passes (SD_LISTEN_FDS_START). */
export const SD_LISTEN_FDS_START = 3;

/**
 * A listener on an inherited, already listening socket (TCP or unix stream)
 * at file descriptor `fd`: 0 for `--inetd`, 3 for systemd.
 */
export async function inheritedListener(fd: number): Promise<Deno.Listener> {
  // Loaded only for an inherited socket: node:net costs start-up time.
  const [{ default: net }, { NodeListener }] = await Promise.all([
    import("node:net"),
    import("../net/node_listener.ts"),
  ]);
  return await new Promise((resolve, reject) => {
    const server = net.createServer({ allowHalfOpen: true });
    const onError = (e: Error) => {
      server.unref();
      reject(
        new Error(
          `fd ${fd} is not a listening socket vncws can use (${e.message}); ` +
            (fd === 0
              ? "--inetd needs a listening TCP socket on stdin (inetd 'wait' / systemd Accept=no)"
              : "the socket unit needs ListenStream= and Accept=no"),
        ),
      );
    };
    server.once("error", onError);
    try {
      server.listen({ fd }, () => {
        server.off("error", onError);
        resolve(new NodeListener(server) as unknown as Deno.Listener);
      });
    } catch (e) {
      onError(e instanceof Error ? e : new Error(String(e)));
    }
  });
}

/** What systemd passed, from `LISTEN_PID`/`LISTEN_FDS`/`LISTEN_FDNAMES`. */
export interface ListenFds {
  /** The inherited fds: 3, 4, ... */
  fds: number[];
  /** Their names (`FileDescriptorName=`), when given. */
  names: string[];
}

/**
 * Reads systemd's socket-activation variables. Returns undefined when they
 * are absent or meant for another process (`LISTEN_PID` ≠ our pid). Unsets
 * them (as `sd_listen_fds(1)` does) so a wrapped server does not see them.
 */
export function listenFds(
  env: Pick<typeof Deno.env, "get" | "delete"> = Deno.env,
): ListenFds | undefined {
  const pid = env.get("LISTEN_PID");
  const count = env.get("LISTEN_FDS");
  const names = env.get("LISTEN_FDNAMES");
  for (const k of ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]) env.delete(k);
  if (pid === undefined || count === undefined) return undefined;
  if (Number(pid) !== Deno.pid) return undefined;
  const n = Number(count);
  if (!Number.isInteger(n) || n < 1) return undefined;
  return {
    fds: Array.from({ length: n }, (_, i) => SD_LISTEN_FDS_START + i),
    names: names ? names.split(":") : [],
  };
}

/**
 * Systemd socket activation: a listener on the first inherited socket
 * (fd 3), or undefined when vncws was not socket-activated. More than one
 * socket is an error (vncws serves one listener).
 */
export async function listenFdsListener(
  env: Pick<typeof Deno.env, "get" | "delete"> = Deno.env,
): Promise<Deno.Listener | undefined> {
  const fds = listenFds(env);
  if (!fds) return undefined;
  if (fds.fds.length > 1) {
    throw new Error(
      `systemd passed ${fds.fds.length} sockets (LISTEN_FDS); vncws serves one: ` +
        "give the socket unit a single ListenStream=",
    );
  }
  return await inheritedListener(fds.fds[0]);
}

/**
 * Sends `state` (e.g. `READY=1`, `STOPPING=1`, `STATUS=...`) to the service
 * manager when `NOTIFY_SOCKET` is set. Resolves false when it is not set;
 * rejects when sending failed.
 */
export async function sdNotify(
  state: string,
  env: Pick<typeof Deno.env, "get"> = Deno.env,
): Promise<boolean> {
  const path = env.get("NOTIFY_SOCKET");
  if (!path) return false;
  const sender = openUnixDatagram(path);
  try {
    await sender.send(new TextEncoder().encode(state));
  } finally {
    sender.close();
  }
  return true;
}

/** sdNotify that logs a failure instead of rejecting (the service goes on). */
async function tryNotify(state: string): Promise<boolean> {
  try {
    return await sdNotify(state);
  } catch (e) {
    logWarn("cannot notify the service manager", {
      socket: Deno.env.get("NOTIFY_SOCKET"),
      error: e instanceof Error ? e.message : String(e),
    });
    return false;
  }
}

/**
 * `READY=1` (plus `STATUS=`), for `Type=notify` units. Call once listening.
 * Never rejects: a failure is logged and resolves false.
 */
export function notifyReady(status?: string): Promise<boolean> {
  return tryNotify(`READY=1\nMAINPID=${Deno.pid}${status ? `\nSTATUS=${status}` : ""}`);
}

/** `STOPPING=1`: shutdown has begun (sessions draining). Never rejects. */
export function notifyStopping(): Promise<boolean> {
  return tryNotify("STOPPING=1");
}
