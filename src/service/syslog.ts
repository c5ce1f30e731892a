/**
 * `--syslog TARGET`: log lines to syslog, as websockify does. TARGET is a
 * local socket path (`/dev/log`; `@name` for an abstract socket) or
 * `host[:port]` for UDP (port 514 by default; `[v6]:port` for IPv6).
 *
 * Header formats (app name "vncws", the process id as PROCID):
 * - RFC 5424 (default): `<PRI>1 2026-01-02T03:04:05.678Z host vncws 1234 - - message`
 * - legacy BSD (`--legacy-syslog`), as glibc's syslog(3) sends it:
 *   `<PRI>Jan  2 03:04:05 vncws[1234]: message`
 *
 * PRI = facility × 8 + severity; facility `daemon` (3) with `-D`, else `user`
 * (1), like websockify. Sending never blocks and never throws: a message
 * that cannot be sent is dropped, and the first failure is reported once
 * on stderr.
 * @module
 */
import dgram from "node:dgram";
import type { Level } from "../base/log.ts";
import { openUnixDatagram, type UnixDatagramSender } from "./unix_datagram.ts";

/** Syslog facilities vncws uses. */
export type Facility = "user" | "daemon";

const FACILITY_CODE: Record<Facility, number> = { user: 1, daemon: 3 };
const SEVERITY: Record<Level, number> = { error: 3, warn: 4, info: 6, debug: 7 };
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
/** Longest message sent (bytes); longer ones are cut (UDP syslog receivers expect ≤ 8 KiB). */
export const MAX_SYSLOG_MESSAGE = 8192;

/** Options for {@linkcode formatSyslog}. */
export interface SyslogFormatOptions {
  /** RFC 3164 (BSD) lines instead of RFC 5424 ones. */
  legacy: boolean;
  /** Syslog facility of every message. */
  facility: Facility;
  /** Default: Deno.hostname(). */
  hostname?: string;
  /** Default: Deno.pid. */
  pid?: number;
  /** Default: now. */
  date?: Date;
  /** Default: "vncws". */
  appName?: string;
}

/** PRI value for a facility and level. */
export function syslogPriority(facility: Facility, level: Level): number {
  return FACILITY_CODE[facility] * 8 + SEVERITY[level];
}

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

/** One syslog message (header + text, newlines replaced by spaces). */
export function formatSyslog(text: string, level: Level, options: SyslogFormatOptions): string {
  const pri = syslogPriority(options.facility, level);
  const pid = options.pid ?? Deno.pid;
  const app = options.appName ?? "vncws";
  const date = options.date ?? new Date();
  const msg = text.replace(/\r?\n/g, " ");
  if (options.legacy) {
    // RFC 3164 TIMESTAMP: local time, day padded with a space.
    const ts = `${MONTHS[date.getMonth()]} ${String(date.getDate()).padStart(2, " ")} ` +
      `${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}`;
    return `<${pri}>${ts} ${app}[${pid}]: ${msg}`;
  }
  // RFC 5424: HOSTNAME is printable ASCII without spaces, at most 255 chars.
  const host = (options.hostname ?? safeHostname()).replace(/[^\x21-\x7e]/g, "").slice(0, 255) ||
    "-";
  // A UTF-8 message is marked with a BOM (RFC 5424 §6.4); plain ASCII needs none.
  const body = /[^\p{ASCII}]/u.test(msg) ? "\ufeff" + msg : msg;
  return `<${pri}>1 ${date.toISOString()} ${host} ${app} ${pid} - - ${body}`;
}

function safeHostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "-";
  }
}

/** A syslog destination parsed from `--syslog`. */
export type SyslogTarget =
  | { kind: "unix"; path: string }
  | { kind: "udp"; hostname: string; port: number };

/** Parses `--syslog`: a path or `@name` (unix), else `host[:port]` / `[v6][:port]` (UDP). */
export function parseSyslogTarget(target: string): SyslogTarget {
  if (target.startsWith("/") || target.startsWith("@") || target.startsWith(".")) {
    return { kind: "unix", path: target };
  }
  let host = target;
  let port = 514;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(target);
  if (v6) {
    host = v6[1];
    if (v6[2] !== undefined) port = Number(v6[2]);
  } else if ((target.match(/:/g) ?? []).length === 1) {
    const i = target.lastIndexOf(":");
    host = target.slice(0, i);
    port = Number(target.slice(i + 1));
  }
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(
      `--syslog ${target}: expected a socket path (/dev/log) or host[:port] for UDP (e.g. 127.0.0.1:514)`,
    );
  }
  return { kind: "udp", hostname: host, port };
}

/** Options for {@linkcode createSyslogSink}. */
export interface SyslogSinkOptions {
  /** RFC 3164 (BSD) lines instead of RFC 5424 ones. */
  legacy: boolean;
  /** Syslog facility of every message. */
  facility: Facility;
  /** Where the first send failure is reported (default stderr). */
  onError?: (message: string) => void;
}

/** A log sink that sends to syslog; `close()` releases the socket. */
export type SyslogSink = ((line: string, level: Level) => void) & { close(): void };

const encoder = new TextEncoder();
/** Lines waiting for the UDP socket beyond which new ones are dropped. */
const MAX_QUEUED = 1000;

/** Creates a sink that sends each line to syslog at `target` (see the module doc). */
export function createSyslogSink(target: string, options: SyslogSinkOptions): SyslogSink {
  const dest = parseSyslogTarget(target);
  let reported = false;
  const fail = (e: unknown) => {
    if (reported) return;
    reported = true;
    const msg = `syslog: cannot send to ${target}: ${e instanceof Error ? e.message : e}` +
      " (further failures are not reported)";
    if (options.onError) options.onError(msg);
    else {
      try {
        Deno.stderr.writeSync(encoder.encode(msg + "\n"));
      } catch { /* stderr closed */ }
    }
  };
  const hostname = safeHostname();
  const format = (line: string, level: Level) => {
    const bytes = encoder.encode(
      formatSyslog(line, level, { legacy: options.legacy, facility: options.facility, hostname }),
    );
    return bytes.length > MAX_SYSLOG_MESSAGE ? bytes.subarray(0, MAX_SYSLOG_MESSAGE) : bytes;
  };

  if (dest.kind === "unix") {
    const sender: UnixDatagramSender = openUnixDatagram(dest.path);
    const sink = (line: string, level: Level) => {
      try {
        sender.send(format(line, level)).catch(fail);
      } catch (e) {
        fail(e);
      }
    };
    return Object.assign(sink, { close: () => sender.close() });
  }

  const socket = dgram.createSocket(dest.hostname.includes(":") ? "udp6" : "udp4");
  socket.on("error", fail);
  socket.unref?.();
  // One send at a time keeps lines in order (node:dgram in Deno may reorder
  // sends that are under way together); beyond MAX_QUEUED lines are dropped.
  let tail = Promise.resolve();
  let queued = 0;
  const sink = (line: string, level: Level) => {
    if (queued >= MAX_QUEUED) return;
    const bytes = format(line, level);
    queued++;
    tail = tail.then(() =>
      new Promise<void>((resolve) => {
        try {
          socket.send(bytes, dest.port, dest.hostname, (e) => {
            if (e) fail(e);
            resolve();
          });
        } catch (e) {
          fail(e);
          resolve();
        }
      })
    ).finally(() => queued--);
  };
  return Object.assign(sink, {
    close: () => {
      try {
        socket.close();
      } catch { /* closed */ }
    },
  });
}
