/**
 * TLS settings as plain data: the listening side (websockify's option
 * names) and the connection to the target. Read by tls_server.ts and
 * tls_client.ts; filled in by the CLI through config/.
 * @module
 */

/** One certificate and its private key, as files. */
export interface CertFiles {
  /** PEM certificate chain (leaf first). */
  cert: string;
  /** PEM private key; absent: the key is inside the `cert` file. */
  key?: string;
}

/** TLS settings for the listening side (websockify's names). */
export interface TlsConfig {
  /** The first `--cert`: PEM certificate chain file, the default certificate. */
  cert?: string;
  /** The first `--key`: PEM private key file (default: the key inside the cert file). */
  key?: string;
  /** The second `--cert`/`--key` pair on, chosen by the client's server name (SNI). */
  extraCerts?: CertFiles[];
  /** `--cert-dir`: a directory of certificates chosen by SNI (`NAME.pem` + `NAME.key`…). */
  certDir?: string;
  /** `--key-password`: passphrase of an encrypted key. */
  keyPassword?: string;
  /** `--ssl-only`: refuse plain (non-TLS) connections. */
  sslOnly: boolean;
  /** `--ssl-version`: lowest TLS version accepted. */
  sslVersion?: string;
  /** `--ssl-ciphers`: OpenSSL cipher list. */
  sslCiphers?: string;
  /** `--verify-client`: require a client certificate signed by `cafile`. */
  verifyClient: boolean;
  /** `--cafile`: CA bundle for verifying client certificates. */
  cafile?: string;
}

/** Settings for the connection to the target. */
export interface TargetTlsConfig {
  /** `--ssl-target`: TLS to the target. */
  enabled: boolean;
  /** Extra CA file for verifying the target (and a VeNCrypt X509 server's certificate). */
  ca?: string;
  /** `--target-cert`: client certificate (PEM) for VeNCrypt X509 servers that ask for one. */
  cert?: string;
  /** `--target-key`: its private key (PEM); absent: the key is inside the `cert` file. */
  key?: string;
  /** Skip verification (explicit opt-in). */
  insecure: boolean;
}

/** Whether `tls` names any certificate (`--cert` or `--cert-dir`): then TLS is served. */
export function servesTls(tls: TlsConfig): boolean {
  return tls.cert !== undefined || tls.certDir !== undefined;
}
