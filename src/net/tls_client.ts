/**
 * Client-side TLS to targets (`--ssl-target`), verified by default.
 *
 * Verified connections use Deno's own TLS (`Deno.startTls`: system roots
 * plus `--target-ca`, host name checked). Deno's TLS cannot skip
 * verification from code (Deno 2.9), so `--ssl-target-insecure`
 * runs node:tls over the same TCP conn instead.
 * @module
 */
import tls from "node:tls";
import type { TargetTlsConfig } from "./tls_options.ts";
import { logWarn } from "../base/log.ts";
import { formatHostPort } from "./address.ts";
import { duplexFromStream, NodeSocketStream } from "./node_stream.ts";
import { type ByteStream, DenoStream } from "./stream.ts";
import { certificates, message, readPem } from "./tls_files.ts";

/** Wraps a connected TCP conn in TLS towards `servername`. */
export type TlsConnector = (tcp: Deno.TcpConn, servername: string) => Promise<ByteStream>;

/** Options for {@linkcode createTlsConnector}. */
export interface TlsConnectorOptions {
  /** A handshake not finished within this many ms fails (default 10 000). */
  handshakeTimeoutMs?: number;
}

function peerOf(tcp: Deno.TcpConn): string {
  return formatHostPort(tcp.remoteAddr.hostname, tcp.remoteAddr.port);
}

function isIp(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(":");
}

/** A verification failure from Deno's TLS as a reason a person can act on. */
function verifyReason(e: unknown, servername: string, hasCa: boolean): string {
  const msg = message(e);
  if (/UnknownIssuer|unknown ?issuer|self.signed|UnknownCA/i.test(msg)) {
    return `TLS to the target: its certificate is not signed by a trusted CA (${msg}); ` +
      (hasCa ? "check --target-ca" : "add its CA with --target-ca FILE");
  }
  if (/NotValidForName|name|hostname/i.test(msg)) {
    return `TLS to the target: its certificate is not valid for "${servername}" (${msg})`;
  }
  if (/expired|NotValidYet/i.test(msg)) {
    return `TLS to the target: its certificate is expired or not yet valid (${msg})`;
  }
  return `TLS to the target failed: ${msg}`;
}

function timeout<T>(p: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p,
    new Promise<never>((_, reject) =>
      timer = setTimeout(() => {
        onTimeout();
        reject(new Error(`TLS handshake with the target not complete within ${ms / 1000}s`));
      }, ms)
    ),
  ]).finally(() => clearTimeout(timer));
}

/** Options for {@linkcode tlsOverStream}. */
export interface StreamTlsOptions {
  /** The host the certificate must be valid for (a name or an IP). */
  servername: string;
  /** Verify the certificate (default true); false only for an explicit opt-in. */
  verify?: boolean;
  /** Extra trusted CA certificates (PEM) besides the system's. */
  ca?: string;
  /** Client certificate chain (PEM), sent when the server asks for one. */
  cert?: string;
  /** The client certificate's private key (PEM). */
  key?: string;
  /** A handshake not finished within this many ms fails. */
  timeoutMs: number;
  /** Peer text for logs (default the stream's). */
  peer?: string;
}

/**
 * Client TLS over any {@linkcode ByteStream} with node:tls: a TLS layer in
 * the middle of another protocol (VeNCrypt's X509 subtypes start TLS after
 * RFB bytes) or over a conn Deno's own TLS cannot use (no verification,
 * a client certificate: `Deno.startTls` takes neither). Resolves once the
 * handshake is done; rejects with a reason a person can act on.
 */
export async function tlsOverStream(
  stream: ByteStream,
  options: StreamTlsOptions,
): Promise<ByteStream> {
  const { duplex, flow } = duplexFromStream(stream);
  const { servername } = options;
  const socket = tls.connect({
    socket: duplex,
    host: servername,
    // SNI carries host names only.
    servername: isIp(servername) ? undefined : servername,
    rejectUnauthorized: options.verify !== false,
    ca: options.ca === undefined ? undefined : [...tls.rootCertificates, options.ca],
    cert: options.cert,
    key: options.key,
  });
  const ready = new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", () => resolve());
    socket.once("error", (e: Error) => reject(e));
  });
  try {
    await timeout(ready, options.timeoutMs, () => socket.destroy());
  } catch (e) {
    socket.destroy();
    throw new Error(verifyReason(e, servername, options.ca !== undefined));
  }
  return new NodeSocketStream(socket, { peer: options.peer ?? stream.peer, flow });
}

/** Builds the connector from `--target-ca` / `--ssl-target-insecure`. */
export async function createTlsConnector(
  config: TargetTlsConfig,
  options: TlsConnectorOptions = {},
): Promise<TlsConnector> {
  const ms = options.handshakeTimeoutMs ?? 10_000;
  let ca: string | undefined;
  if (config.ca) {
    ca = await readPem(config.ca, "--target-ca");
    certificates(ca, config.ca, "--target-ca");
  }

  if (config.insecure) {
    logWarn(
      "--ssl-target-insecure: the target's TLS certificate is NOT verified; " +
        "anyone on the path to the target can read and change the session",
    );
    return (tcp, servername) =>
      tlsOverStream(new DenoStream(tcp), {
        servername,
        verify: false,
        timeoutMs: ms,
        peer: peerOf(tcp),
      });
  }

  return async (tcp, servername) => {
    const peer = peerOf(tcp);
    const conn = await Deno.startTls(tcp, {
      hostname: servername,
      caCerts: ca ? [ca] : undefined,
    });
    try {
      // Handshake now, so a bad certificate is a connect failure (HTTP 502), not a dead session.
      await timeout(conn.handshake(), ms, () => conn.close());
    } catch (e) {
      try {
        conn.close();
      } catch { /* closed */ }
      throw new Error(verifyReason(e, servername, ca !== undefined));
    }
    return new DenoStream(conn, { peer });
  };
}
