/**
 * Server-side TLS for sniffed connections (wss:// and https:// on the same
 * port as plain clients), including client-certificate verification.
 *
 * Deno's own TLS can neither start server-side TLS on a connection whose
 * first bytes were already read nor verify client certificates, so this
 * runs node:tls over the Deno socket (measured on Deno 2.9): a node Duplex
 * over the sniffed stream is handed to a `tls.Server` with
 * `emit("connection")` (a bare `TLSSocket` would skip client-certificate
 * verification), and the resulting TLS socket becomes a ByteStream again.
 * @module
 */
import tls from "node:tls";
import type { TlsConfig } from "./tls_options.ts";
import { logDebug, logError, logInfo, logWarn } from "../base/log.ts";
import { type FileWatch, watchFiles } from "../base/file_watch.ts";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { duplexFromStream, type Flow, NodeSocketStream } from "./node_stream.ts";
import type { ByteStream } from "./stream.ts";
import { certificates, message, readPem } from "./tls_files.ts";
import {
  certFileList,
  loadCert,
  nameMatches,
  pickCert,
  type ServedCert,
  watchedPaths,
} from "./tls_certs.ts";

/** Options for a {@linkcode TlsUpgrader} call. */
export interface UpgradeOptions {
  /** Aborting ends a handshake still under way (vncws is stopping). */
  signal?: AbortSignal;
}

/** Turns a sniffed stream (its ClientHello not yet consumed) into a TLS stream. */
export type TlsUpgrader = (stream: ByteStream, options?: UpgradeOptions) => Promise<ByteStream>;

/**
 * A loaded TLS configuration that is reloaded, without dropping sessions,
 * when its files change on disk and on SIGHUP.
 */
export interface TlsServer {
  /** Runs the server side of a TLS handshake on an accepted stream. */
  upgrade: TlsUpgrader;
  /** Re-reads the certificate, key and CA files; throws with the reason when they are bad. */
  reload(): Promise<void>;
  /** The certificates served now, the default first. */
  certificates(): readonly ServedCert[];
  /** Stops watching the files. */
  close(): void;
}

/** Options for {@linkcode createTlsServer}. */
export interface TlsServerOptions {
  /** A handshake not finished within this many ms is closed (default 10 000). */
  handshakeTimeoutMs?: number;
  /** How often the files are checked for changes, in ms (default 2000; 0: never). */
  watchIntervalMs?: number;
}

/** `--ssl-version` values (websockify's names) → the lowest protocol version allowed. */
const MIN_VERSIONS: Record<string, tls.SecureVersion | undefined> = {
  default: undefined,
  tlsv1_1: "TLSv1.1",
  tlsv1_2: "TLSv1.2",
  tlsv1_3: "TLSv1.3",
};

/**
 * TLS 1.2 suites the TLS library (rustls, under Deno's node:tls) can
 * negotiate, by OpenSSL name and IANA name. It offers nothing else: every
 * suite is AEAD with ECDHE key exchange.
 */
const TLS12_SUITES: Array<[string, string]> = [
  ["ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"],
  ["ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"],
  ["ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"],
  ["ECDHE-RSA-AES256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"],
  ["ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
  ["ECDHE-RSA-CHACHA20-POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"],
];

/**
 * The TLS 1.2 suites an OpenSSL-style `--ssl-ciphers` list allows, or
 * undefined when it names no suite exactly (aliases such as `HIGH:!aNULL`
 * allow every suite the library offers). The library ignores cipher lists,
 * so the list is enforced after the handshake: a TLS 1.2 connection that
 * negotiated another suite is closed. (OpenSSL's cipher list does not apply
 * to TLS 1.3 either.)
 */
export function allowedTls12Suites(list: string): Set<string> | undefined {
  const known = new Map<string, string>();
  for (const [openssl, iana] of TLS12_SUITES) {
    known.set(openssl, openssl);
    known.set(iana, openssl);
  }
  // Exact suite names look like ECDHE-RSA-AES128-GCM-SHA256 or TLS_ECDHE_...;
  // aliases (HIGH, aNULL, EECDH+AESGCM) and exclusions (!x, -x) do not.
  const named = list.split(/[:, ]+/).map((t) => t.toUpperCase()).filter((t) =>
    /^[A-Z0-9]+(-[A-Z0-9]+)+$/.test(t) || /^TLS_[A-Z0-9_]+$/.test(t)
  );
  if (named.length === 0) return undefined;
  const allowed = new Set(named.map((t) => known.get(t)).filter((t) => t !== undefined));
  if (allowed.size === 0) {
    throw new Error(
      `--ssl-ciphers "${list}": none of these suites can be negotiated; ` +
        `supported TLS 1.2 suites: ${TLS12_SUITES.map((s) => s[0]).join(":")}`,
    );
  }
  return allowed;
}

interface Loaded {
  /** Options of each connection's tls.Server. */
  options: tls.TlsOptions;
  /** The certificates, the default first. */
  certs: ServedCert[];
  ciphers?: Set<string>;
  summary: Record<string, unknown>;
}

async function load(config: TlsConfig): Promise<Loaded> {
  const files = await certFileList(config);
  const certs: ServedCert[] = [];
  // One by one: the first bad file is the one the error names.
  for (const f of files) certs.push(await loadCert(f, config.keyPassword));
  let ca: string | undefined;
  if (config.cafile) {
    ca = await readPem(config.cafile, "--cafile");
    certificates(ca, config.cafile, "--cafile");
  }
  const version = config.sslVersion ?? "default";
  let minVersion: tls.SecureVersion | undefined;
  if (version in MIN_VERSIONS) {
    minVersion = MIN_VERSIONS[version];
  } else {
    // websockify's behaviour: an unknown value falls back to the newest version.
    logWarn(`unknown --ssl-version "${version}": using tlsv1_3`, {
      known: Object.keys(MIN_VERSIONS).join(", "),
    });
    minVersion = "TLSv1.3";
  }
  const ciphers = config.sslCiphers ? allowedTls12Suites(config.sslCiphers) : undefined;
  const options: tls.TlsOptions = {
    cert: certs[0].chain,
    key: certs[0].key,
    passphrase: config.keyPassword,
    ca,
    minVersion,
    requestCert: config.verifyClient,
    // Verification result is checked in upgrade() so the log can say why
    // a client was refused; nothing is read before that check.
    rejectUnauthorized: false,
  };
  if (certs.length > 1) {
    // One context per certificate, made once per load. The callback answers
    // at once: measured on Deno 2.9, a callback that answers later stalls
    // the handshake over a JavaScript stream (the shared port).
    const contexts = new Map(certs.map((c) =>
      [
        c,
        tls.createSecureContext({
          cert: c.chain,
          key: c.key,
          passphrase: config.keyPassword,
          ca,
          minVersion,
        }),
      ] as const
    ));
    options.SNICallback = (name, answer) => answer(null, contexts.get(pickCert(certs, name)));
  }
  return {
    certs,
    options,
    ciphers,
    summary: {
      cert: certs.map((c) => c.files.cert).join(","),
      subject: certs.length === 1 ? certs[0].subject : undefined,
      // Tells a renewed certificate from the one before in the reload line.
      serial: certs.length === 1 ? certs[0].serial : undefined,
      names: certs.length > 1 ? certs.map((c) => c.names.join(" ")).join(", ") : undefined,
      expires: new Date(Math.min(...certs.map((c) => c.notAfter.getTime()))).toISOString(),
      // The TLS library speaks TLS 1.2 and 1.3 only, so tlsv1_1 means TLS 1.2.
      minVersion: minVersion === "TLSv1.3" ? "TLSv1.3" : "TLSv1.2",
      verifyClient: config.verifyClient ? `CAs from ${config.cafile ?? "the system"}` : undefined,
      ciphers: ciphers ? [...ciphers].join(":") : undefined,
    },
  };
}

/**
 * Logs why a client left right after the handshake without a request: a
 * client that rejects the certificate often finishes TLS 1.3 first and then
 * closes, so the handshake itself reports nothing.
 */
function watchEarlyClose(socket: tls.TLSSocket, peer: string, certs: ServedCert[]): void {
  let gotData = false;
  let error: Error | undefined;
  socket.once("data", () => gotData = true);
  socket.once("error", (e: Error) => error = e);
  socket.once("close", () => {
    if (gotData) return;
    // Node sets `servername` on server sockets (SNI); the typings omit it.
    const name = (socket as tls.TLSSocket & { servername?: string | false }).servername;
    const sni = typeof name === "string" ? name : undefined;
    const names = sni ? pickCert(certs, sni).names : [];
    if (sni && !nameMatches(names, sni)) {
      logWarn("TLS client left without a request: it asked for a name the certificate lacks", {
        client: peer,
        sni,
        certificate: names.join(","),
        error: error?.message,
      });
    } else if (error) {
      logWarn("TLS client left without a request", { client: peer, error: error.message });
    } else {
      logDebug("TLS client left without a request", { client: peer, sni });
    }
  });
}

function commonName(cert: tls.PeerCertificate): string | undefined {
  const cn = cert.subject?.CN as string | string[] | undefined;
  return Array.isArray(cn) ? cn[0] : cn;
}

/** A handshake error from node:tls as a reason a person can act on. */
function handshakeReason(e: unknown, config: TlsConfig): string {
  const msg = message(e);
  if (/SupportedVersions|version|incompatible/i.test(msg)) {
    return `TLS version not accepted (${msg}; --ssl-version is ${config.sslVersion ?? "default"})`;
  }
  if (/peer sent no certificates|NO_CERTIFICATE|DID_NOT_RETURN/i.test(msg)) {
    return "no client certificate (--verify-client requires one)";
  }
  if (/UnknownCA|unknown ca|BadCertificate|CertificateUnknown|bad certificate/i.test(msg)) {
    return `the client does not accept this server's certificate (${msg})`;
  }
  if (/socket hang up|ECONNRESET|EOF/i.test(msg)) {
    return `the client closed the connection during the handshake (${msg})`;
  }
  return msg;
}

/** The native handle of a node socket (internal, but the one way to stop its reads). */
interface ReadHandle {
  readStart?(): number;
  readStop?(): number;
}

/**
 * The {@linkcode Flow} of a native socket under TLS. Pausing the TLS socket
 * does not stop the TLS layer from reading the TCP handle (measured under
 * Deno 2.9: a client that is not read from could write 64 MiB), so pause and
 * resume stop and start the handle's reads. TLS writes go to the handle
 * natively, past the socket's own queue, so flushed() only waits a macrotask
 * for the TLS layer to hand over its last record (close_notify).
 */
function socketFlow(socket: Socket): Flow {
  const handle = () => (socket as unknown as { _handle?: ReadHandle })._handle;
  return {
    pause() {
      handle()?.readStop?.();
    },
    resume() {
      handle()?.readStart?.();
    },
    async flushed() {
      await new Promise((r) => setTimeout(r, 0));
    },
  };
}

/** Loads certificate and key files; throws an Error naming the bad file. */
export async function createTlsServer(
  config: TlsConfig,
  options: TlsServerOptions = {},
): Promise<TlsServer> {
  const timeoutMs = options.handshakeTimeoutMs ?? 10_000;
  let current = await load(config);
  logInfo("TLS ready", current.summary);

  const upgrade = (stream: ByteStream, options: UpgradeOptions = {}): Promise<ByteStream> => {
    const { options: tlsOptions, ciphers, certs } = current;
    // One tls.Server per connection (about 0.3 ms): its 'secureConnection'
    // then surely belongs to this connection, and reload() needs no locking.
    const server = new tls.Server(tlsOptions);
    // A node socket (from a node:net listener) gets TLS attached natively;
    // anything else gets it over a JavaScript Duplex (more copies).
    const taken = stream.takeSocket?.();
    let duplex: Duplex;
    let flow: Flow;
    if (taken) {
      if (taken.buffered.length > 0) taken.socket.unshift(taken.buffered);
      duplex = taken.socket;
      flow = socketFlow(taken.socket);
    } else {
      ({ duplex, flow } = duplexFromStream(stream));
    }
    // A client that hangs up during the handshake must end it at once: with
    // half-open allowed the TLS layer never hears of the EOF (measured), so
    // it is off until the handshake is done.
    duplex.allowHalfOpen = false;
    return new Promise<ByteStream>((resolve, reject) => {
      let done = false;
      const fail = (why: string, socket?: tls.TLSSocket) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onStop);
        socket?.destroy();
        duplex.destroy();
        reject(new Error(`TLS handshake failed: ${why}`));
      };
      const timer = setTimeout(
        () => fail(`not complete within ${timeoutMs / 1000}s`),
        timeoutMs,
      );
      const onStop = () => fail("vncws is stopping");
      if (options.signal?.aborted) return onStop();
      options.signal?.addEventListener("abort", onStop, { once: true });
      server.on("tlsClientError", (e: Error, socket: tls.TLSSocket) => {
        fail(handshakeReason(e, config), socket);
      });
      duplex.on("error", (e: Error) => fail(`connection error: ${e.message}`));
      server.on("secureConnection", (socket: tls.TLSSocket) => {
        if (done) {
          socket.destroy();
          return;
        }
        let cn: string | undefined;
        if (config.verifyClient) {
          const cert = socket.getPeerCertificate();
          if (!cert || Object.keys(cert).length === 0) {
            return fail("no client certificate (--verify-client requires one)", socket);
          }
          if (!socket.authorized) {
            return fail(
              `client certificate CN=${commonName(cert) ?? "?"} not trusted: ` +
                `${socket.authorizationError} ` +
                (config.cafile
                  ? "(not signed by a CA in --cafile)"
                  : "(not signed by a system CA; name your CA with --cafile FILE)"),
              socket,
            );
          }
          cn = commonName(cert);
        }
        const cipher = socket.getCipher();
        const protocol = socket.getProtocol();
        if (ciphers && protocol === "TLSv1.2" && !ciphers.has(cipher.name)) {
          return fail(`cipher ${cipher.name} is not in --ssl-ciphers`, socket);
        }
        done = true;
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onStop);
        // Half-close is allowed again once established (a client's EOF must not end our
        // sending side). The TLS socket copied the flag when it was made, so set both.
        duplex.allowHalfOpen = true;
        socket.allowHalfOpen = true;
        logDebug("TLS established", { client: stream.peer, protocol, cipher: cipher.name, cn });
        const secure = new NodeSocketStream(socket, {
          peer: stream.peer,
          local: stream.local,
          clientCertCN: cn,
          flow,
        });
        watchEarlyClose(socket, stream.peer, certs);
        resolve(secure);
      });
      server.emit("connection", duplex);
    });
  };

  // Files that change on disk (a renewal) are read again; a bad new state
  // keeps the old certificates and is logged once, not at every poll.
  const interval = options.watchIntervalMs ?? 2000;
  const watch: FileWatch | undefined = interval > 0
    ? await watchFiles(() => watchedPaths(config), async () => {
      try {
        current = await load(config);
        logInfo("TLS certificates changed on disk: reloaded", current.summary);
      } catch (e) {
        logError("TLS certificate files changed but cannot be used; the old ones stay in use", {
          error: message(e),
        });
      }
    }, { intervalMs: interval })
    : undefined;

  return {
    upgrade,
    async reload() {
      // What is read now need not be read again by the watch.
      await watch?.rebase();
      // A bad file keeps the old certificate in use; the caller logs the error.
      current = await load(config);
      logInfo("TLS certificates reloaded", current.summary);
    },
    certificates: () => current.certs,
    close: () => watch?.close(),
  };
}
