/**
 * Server-side TLS for sniffed connections (wss:// and https:// on the same
 * port as plain clients), including client-certificate verification.
 * @module
 */
import type { TlsConfig } from "../config.ts";
import type { ByteStream } from "./stream.ts";

/** Turns a sniffed stream (its ClientHello not yet consumed) into a TLS stream. */
export type TlsUpgrader = (stream: ByteStream) => Promise<ByteStream>;

/** A loaded TLS configuration that can be reloaded (SIGHUP) without dropping sessions. */
export interface TlsServer {
  upgrade: TlsUpgrader;
  /** Re-reads the certificate, key and CA files; throws with the reason when they are bad. */
  reload(): Promise<void>;
}

/** Loads certificate and key files; throws an Error naming the bad file. */
export function createTlsServer(_tls: TlsConfig): Promise<TlsServer> {
  return Promise.reject(new Error("TLS is not supported yet"));
}
