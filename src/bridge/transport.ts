/**
 * The connection under a bridge WebSocket: plain TCP for ws:// (Deno's
 * socket, the fast path) and node:tls for wss:// (the only TLS in Deno
 * that can skip verification for `--insecure`), with TLS failures turned
 * into reasons a person can act on.
 * @module
 */
import { isIP } from "node:net";
import tls from "node:tls";
import { NodeSocketStream } from "../net/node_stream.ts";
import { type ByteStream, DenoStream } from "../net/stream.ts";

/** TLS settings for wss:// URLs. */
export interface BridgeTlsOptions {
  /** Skip certificate verification (`-k/--insecure`). */
  insecure?: boolean;
  /** Trusted CA certificates, PEM text (`--ca FILE`); replaces the default roots. */
  ca?: string;
  /** Client certificate chain, PEM text (`--cert FILE`). */
  cert?: string;
  /** Client private key, PEM text (`--key FILE`). */
  key?: string;
  /** Server name sent in SNI and checked against the certificate (`--sni NAME`). */
  servername?: string;
}

/** Where to connect. */
export interface TransportTarget {
  /** Host name or IP address. */
  hostname: string;
  /** TCP port. */
  port: number;
  /** TLS (wss://) or plain TCP (ws://). */
  tls: boolean;
}

/** Options for {@linkcode openTransport}. */
export interface TransportOptions {
  /** TLS settings when the target is TLS. */
  tls?: BridgeTlsOptions;
  /** Aborting gives up (connect timeout, shutdown). */
  signal?: AbortSignal;
}

/** Unread wss:// bytes queued before the socket is paused. */
const BRIDGE_HIGH_WATER = 64 * 1024;

/** A connection failed; the message says why and what to try. */
export class TransportError extends Error {}

/** Node/OpenSSL certificate error codes in words, with what to do about them. */
const TLS_REASONS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: "the server's certificate is self-signed and not trusted",
  SELF_SIGNED_CERT_IN_CHAIN: "the server's certificate chain ends in an untrusted self-signed CA",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    "the server's certificate was issued by an unknown certificate authority",
  UNABLE_TO_GET_ISSUER_CERT: "the server's certificate was issued by an unknown certificate " +
    "authority",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    "the server's certificate was issued by an unknown certificate authority",
  CERT_UNTRUSTED: "the server's certificate is not trusted",
  CERT_HAS_EXPIRED: "the server's certificate has expired",
  CERT_NOT_YET_VALID: "the server's certificate is not valid yet (check the clock)",
  CERT_REVOKED: "the server's certificate was revoked",
  CERT_SIGNATURE_FAILURE: "the server's certificate has a bad signature",
  INVALID_CA: "a certificate in the server's chain is not a valid CA",
  INVALID_PURPOSE: "the server's certificate is not meant for TLS servers",
};

const TRUST_HINT = "trust its CA with --ca FILE, or skip verification with -k/--insecure";

/** Describes a TLS (or TCP) failure in words; `name` is the host that was checked. */
export function describeTlsError(e: unknown, name: string): string {
  const err = e as { code?: string; message?: string; reason?: string };
  const code = err?.code ?? "";
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return `hostname mismatch: the certificate is not valid for "${name}"` +
      (err.reason ? ` (${err.reason})` : "") +
      "; connect by a name the certificate lists, set the checked name with --sni NAME, " +
      "or skip verification with -k/--insecure";
  }
  if (code in TLS_REASONS) return `${TLS_REASONS[code]} (${code}); ${TRUST_HINT}`;
  const msg = err?.message ?? String(e);
  if (/wrong version number|packet length too long|unknown protocol/i.test(msg)) {
    return `the server does not speak TLS there (${msg}); use ws:// instead of wss://?`;
  }
  return describeNetError(e);
}

/** Describes a TCP-level failure in words. */
export function describeNetError(e: unknown): string {
  if (e instanceof Deno.errors.ConnectionRefused) return "connection refused";
  if (e instanceof Deno.errors.TimedOut) return "timed out";
  if (e instanceof Deno.errors.NotFound) return "host not found";
  const err = e as { code?: string; message?: string };
  switch (err?.code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ECONNRESET":
      return "connection reset by the server";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host not found";
    case "ETIMEDOUT":
      return "timed out";
  }
  return err?.message ?? String(e);
}

/** Opens TCP (and TLS when `target.tls`) to the target. Throws {@linkcode TransportError}. */
export async function openTransport(
  target: TransportTarget,
  options: TransportOptions = {},
): Promise<ByteStream> {
  if (!target.tls) {
    try {
      const conn = await Deno.connect({
        hostname: target.hostname,
        port: target.port,
        signal: options.signal,
      });
      return new DenoStream(conn);
    } catch (e) {
      if (options.signal?.aborted) throw new TransportError("timed out");
      throw new TransportError(describeNetError(e));
    }
  }
  const t = options.tls ?? {};
  // SNI must be a name, never an IP literal (RFC 6066 §3).
  const sni = t.servername ?? (isIP(target.hostname) ? undefined : target.hostname);
  const checked = t.servername ?? target.hostname;
  const socket = tls.connect({
    host: target.hostname,
    port: target.port,
    servername: sni,
    ca: t.ca,
    cert: t.cert,
    key: t.key,
    rejectUnauthorized: !t.insecure,
    ALPNProtocols: ["http/1.1"],
    checkServerIdentity: (_host, cert) => tls.checkServerIdentity(checked, cert),
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(new TransportError("timed out"));
      if (options.signal?.aborted) onAbort();
      options.signal?.addEventListener("abort", onAbort, { once: true });
      socket.once("secureConnect", () => {
        options.signal?.removeEventListener("abort", onAbort);
        resolve();
      });
      socket.once("error", (e) => {
        options.signal?.removeEventListener("abort", onAbort);
        reject(e);
      });
    });
  } catch (e) {
    socket.destroy();
    if (e instanceof TransportError) throw e;
    throw new TransportError(describeTlsError(e, checked));
  }
  socket.setNoDelay(true);
  return new NodeSocketStream(socket, { highWaterMark: BRIDGE_HIGH_WATER });
}
