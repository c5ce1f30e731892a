/**
 * websocat's spellings on `vncws bridge`'s command line, so a websocat
 * command from a blog post works after `vncws bridge`: its listen
 * addresses (`tcp-listen:ADDR`, `unix-listen:PATH`, `-`) map to the bridge's
 * own, and each websocat option or address type the bridge does not have is
 * refused by name with what to do instead. The options websocat shares with
 * the bridge (`-b`, `-E`, `--oneshot`, `-k`, `-H`, `--protocol`…) are in the
 * bridge's option table.
 * @module
 */
import { UsageError } from "./values.ts";

const TEXT_MODE = "the bridge relays bytes as binary frames (there is no line or text mode)";
const CLIENT_ONLY =
  "the bridge is a WebSocket client; vncws itself is the server (vncws PORT HOST:PORT)";
const BOTH_WAYS = "the bridge relays both ways until either side ends";

/**
 * websocat options the bridge does not have, with the reason or the bridge's
 * way; `[long, short]`.
 */
const REFUSED: Array<[string, string | undefined, string]> = [
  ["text", "t", TEXT_MODE],
  ["jsonrpc", undefined, TEXT_MODE],
  ["null-terminated", "0", TEXT_MODE],
  ["no-line", undefined, TEXT_MODE],
  ["linemode-strip-newlines", undefined, TEXT_MODE],
  ["strict", "S", TEXT_MODE],
  ["crlf", undefined, TEXT_MODE],
  ["base64", undefined, TEXT_MODE],
  ["base64-text", undefined, TEXT_MODE],
  ["text-prefix", undefined, TEXT_MODE],
  ["binary-prefix", undefined, TEXT_MODE],
  ["server-mode", "s", CLIENT_ONLY],
  ["restrict-uri", undefined, CLIENT_ONLY],
  ["server-header", undefined, CLIENT_ONLY],
  ["pkcs12-der", undefined, CLIENT_ONLY],
  ["pkcs12-passwd", undefined, CLIENT_ONLY],
  ["unidirectional", "u", BOTH_WAYS],
  ["unidirectional-reverse", "U", BOTH_WAYS],
  ["no-close", "n", BOTH_WAYS],
  ["one-message", "1", BOTH_WAYS],
  ["max-messages", undefined, BOTH_WAYS],
  ["max-messages-rev", undefined, BOTH_WAYS],
  ["no-exit-on-zeromsg", undefined, BOTH_WAYS],
  ["quiet", "q", "the bridge logs one line per session; add 2>/dev/null to drop them"],
  ["tls-domain", undefined, "use --sni NAME"],
  ["client-pkcs12-der", undefined, "use --cert FILE --key FILE (PEM)"],
  ["client-pkcs12-passwd", undefined, "use --cert FILE --key FILE (PEM, unencrypted)"],
  ["unlink", undefined, "the bridge replaces a stale socket itself and never a live one"],
  ["ws-c-uri", undefined, "give the URL itself"],
  ["set-environment", "e", "the bridge runs no programs per connection but --url-command"],
  ["exec-args", undefined, "the bridge runs no programs per connection but --url-command"],
  ["socks5", undefined, "the bridge connects directly"],
  ["socks5-destination", undefined, "the bridge connects directly"],
  ["socks5-user-pass", undefined, "the bridge connects directly"],
  ["autoreconnect-delay-millis", undefined, "VNC sessions cannot resume, so it never reconnects"],
  ["buffer-size", "B", "the bridge sizes its buffers itself"],
  ["print-ping-rtts", undefined, "use -v for debug lines"],
  ["conncap", undefined, "the bridge has no connection cap"],
];

/**
 * The refusal for `flag` (as written: `--text`, `-t`) when it is one of
 * websocat's options the bridge does not have, else undefined.
 */
export function websocatRefusal(flag: string): string | undefined {
  const long = flag.startsWith("--") ? flag.slice(2).split("=")[0] : undefined;
  const short = !long && /^-.$/.test(flag) ? flag[1] : undefined;
  const hit = REFUSED.find(([l, s]) => l === long || (short !== undefined && s === short));
  if (!hit) return undefined;
  const name = hit[1] ? `-${hit[1]} (--${hit[0]})` : `--${hit[0]}`;
  return `websocat's ${name} is not supported by vncws bridge; ${hit[2]}`;
}

/** A websocat listen address, as the bridge's own listen modes. */
export type WebsocatAddress =
  | { kind: "tcp"; address: string }
  | { kind: "unix"; path: string }
  | { kind: "stdio" };

const TCP_LISTEN = /^(?:tcp-listen|tcp-l|l-tcp|listen-tcp):(.+)$/;
const UNIX_LISTEN = /^(?:unix-listen|unix-l|l-unix|listen-unix):(.+)$/;
/** websocat address types the bridge has no counterpart for. */
const OTHER_TYPES =
  /^(tcp|tcp-connect|connect-tcp|tcp-c|c-tcp|unix|unix-connect|connect-unix|unix-c|c-unix|abstract|abstract-listen|abstract-connect|ws-l|ws-listen|l-ws|listen-ws|wss-l|wss-listen|ws-c|ws-u|exec|cmd|sh-c|udp|udp-l|udp-listen|udp-connect|mirror|literal|readfile|writefile|appendfile|open-async|open-fd|autoreconnect|reuse-raw|reuse|broadcast|log|ssl|tls|tls-l|ssl-listen|tls-listen|inetd|seqpacket|seqpacket-listen|socks5-connect|socks5-bind|stdio|threadedstdio):/;

/**
 * `arg` as a websocat address: a listen address the bridge maps to its own,
 * undefined when `arg` is not websocat's (a port, `addr:port`, a URL).
 * Throws {@linkcode UsageError} naming a websocat address type the bridge
 * does not have.
 */
export function websocatAddress(arg: string): WebsocatAddress | undefined {
  if (arg === "-" || arg === "stdio:") return { kind: "stdio" };
  const tcp = TCP_LISTEN.exec(arg);
  if (tcp) return { kind: "tcp", address: tcp[1] };
  const unix = UNIX_LISTEN.exec(arg);
  if (unix) return { kind: "unix", path: unix[1] };
  const other = OTHER_TYPES.exec(arg);
  if (other && !arg.includes("://")) {
    throw new UsageError(
      `websocat's address type ${other[1]}: is not supported by vncws bridge; it listens on ` +
        "[addr:]port (or tcp-listen:ADDR), unix-listen:PATH or - (stdio) and connects to one " +
        "ws:// or wss:// URL",
    );
  }
  return undefined;
}

/** websocat's address forms the bridge takes, for the README: `[spellings, meaning]`. */
export const WEBSOCAT_ADDRESSES: Array<[string[], string]> = [
  [["tcp-listen:ADDR:PORT", "tcp-l:ADDR:PORT", "l-tcp:ADDR:PORT"], "[listen_addr:]listen_port"],
  [["unix-listen:PATH", "unix-l:PATH", "l-unix:PATH"], "--unix-listen PATH"],
  [["-", "stdio:"], "--stdio"],
];

/** websocat's refused options grouped by reason, for the README: `[spellings, reason]`. */
export function refusedWebsocatOptions(): Array<[string[], string]> {
  const byReason = new Map<string, string[]>();
  for (const [long, short, why] of REFUSED) {
    const list = byReason.get(why) ?? [];
    if (short) list.push(`-${short}`);
    list.push(`--${long}`);
    byReason.set(why, list);
  }
  return [...byReason].map(([why, list]) => [list, why]);
}
