/**
 * TLS settings as plain data: the listening side (websockify's option
 * names) and the connection to the target. Read by tls_server.ts and
 * tls_client.ts; filled in by the CLI through config/.
 * @module
 */

/** TLS settings for the listening side (websockify's names). */
export interface TlsConfig {
  cert?: string;
  key?: string;
  keyPassword?: string;
  sslOnly: boolean;
  sslVersion?: string;
  sslCiphers?: string;
  verifyClient: boolean;
  cafile?: string;
}

/** Settings for the connection to the target. */
export interface TargetTlsConfig {
  /** `--ssl-target`: TLS to the target. */
  enabled: boolean;
  /** Extra CA file for verifying the target. */
  ca?: string;
  /** Skip verification (explicit opt-in). */
  insecure: boolean;
}
