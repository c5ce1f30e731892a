/**
 * Address parsing shared by the CLI, token files and connectors.
 *
 * websockify splits `host:port` on the last colon and strips brackets, so
 * `[::1]:6080` and `::1:6080` are the same address; we keep that rule.
 * @module
 */

/** Where a session's bytes go: a TCP host and port, or a unix socket path. */
export type Target =
  | {
    kind: "tcp";
    /** Host name or IP literal (no brackets). */
    hostname: string;
    /** TCP port. */
    port: number;
    /** Connect with TLS (`--ssl-target`). */
    tls?: boolean;
    /** Other hosts to try in order when `hostname` fails (wrap mode: `::1` after `127.0.0.1`). */
    alternates?: string[];
    /**
     * The host name the target was given as, when `hostname` and `alternates`
     * are the addresses it resolved to and was checked against
     * (`--allow-target`): TLS verifies this name, logs show it.
     */
    name?: string;
  }
  | { kind: "unix"; path: string };

/** A host (possibly empty = all interfaces) and a port. */
export interface HostPort {
  /** Host name or IP literal (no brackets); "" = all interfaces. */
  hostname: string;
  /** TCP port. */
  port: number;
}

/** How address parsers word their errors. */
export interface AddressErrorOptions {
  /**
   * Repeat the input in error messages (default true). False for text that
   * may hold a secret (a token target followed by `password=...`): the
   * message then names only what is wrong.
   */
  echo?: boolean;
}

/** `what "text"`, or only `what` when the input must not be repeated. */
function subject(what: string, text: string, options: AddressErrorOptions): string {
  return options.echo === false ? what : `${what} "${text}"`;
}

/** Parses a decimal TCP port (1–65535); throws a message naming the input otherwise. */
export function parsePort(
  text: string,
  what = "port",
  options: AddressErrorOptions = {},
): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : 0;
  if (port < 1 || port > 65535) {
    throw new Error(`${subject(what, text, options)} is not a number from 1 to 65535`);
  }
  return port;
}

function stripBrackets(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/**
 * Parses `[addr:]port` as websockify does: no colon means all interfaces
 * (hostname ""), otherwise split on the last colon and strip `[` `]`.
 */
export function parseListen(text: string): HostPort {
  const i = text.lastIndexOf(":");
  if (i < 0) return { hostname: "", port: parsePort(text, "listen port") };
  return {
    hostname: stripBrackets(text.slice(0, i)),
    port: parsePort(text.slice(i + 1), "listen port"),
  };
}

/**
 * Parses `host:port` (a host is required); `[::1]:5900` and `::1:5900` both
 * work. Errors repeat the input unless `options.echo` is false.
 */
export function parseHostPort(
  text: string,
  what = "target",
  options: AddressErrorOptions = {},
): HostPort {
  const t = text.trim();
  const i = t.lastIndexOf(":");
  if (i <= 0) {
    throw new Error(
      `${subject(what, text, options)} must look like host:port (for example 127.0.0.1:5900)`,
    );
  }
  const hostname = stripBrackets(t.slice(0, i));
  if (hostname === "") throw new Error(`${subject(what, text, options)} has an empty host`);
  return { hostname, port: parsePort(t.slice(i + 1), `${what} port`, options) };
}

/** Formats a host and port for logs and URLs (`[::1]:5900`). */
export function formatHostPort(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

/** Formats a target for log lines. */
export function formatTarget(target: Target): string {
  return target.kind === "unix"
    ? `unix:${target.path}`
    : (target.tls ? "tls:" : "") + formatHostPort(target.name ?? target.hostname, target.port);
}
