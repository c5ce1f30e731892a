/**
 * Client-side TLS to targets (`--ssl-target`), verified by default.
 * @module
 */
import type { TargetTlsConfig } from "../config.ts";
import type { ByteStream } from "./stream.ts";

/** Wraps a connected TCP conn in TLS towards `servername`. */
export type TlsConnector = (tcp: Deno.TcpConn, servername: string) => Promise<ByteStream>;

/** Builds the connector from `--target-ca` / `--ssl-target-insecure`. */
export function createTlsConnector(_options: TargetTlsConfig): Promise<TlsConnector> {
  return Promise.reject(new Error("--ssl-target is not supported yet"));
}
