/**
 * The client side of the RFB handshake up to the end of security (RFC 6143
 * §7.1–7.2): vncws authenticating to a VNC server with credentials the
 * viewer never sees. Versions 3.3, 3.7 and 3.8 (vncws answers the lower of
 * the server's and 3.8); security types None, VncAuth and VeNCrypt
 * (version 0.2) with the subtypes Plain, X509None, X509Vnc, X509Plain and
 * the inner None and VncAuth. VeNCrypt's TLS* subtypes use anonymous
 * Diffie-Hellman, which Deno's TLS (rustls, also under node:tls) does not
 * have: they are never chosen.
 *
 * The handshake stops after a successful SecurityResult, before ClientInit:
 * the gateway (gateway.ts) gets the viewer's ClientInit and the server's
 * ServerInit passes through untouched. It answers once and never retries:
 * a refused password is a result, not a loop.
 * @module
 */
import { concatBytes, u32be } from "../base/bytes.ts";
import { type ByteStream, PrefixedStream } from "../net/stream.ts";
import { parseVersion, SECURITY_NONE, SECURITY_VNC_AUTH, VERSION_BYTES } from "./handshake.ts";
import type { RfbCredentials } from "./policy.ts";
import { RfbEndOfStream, RfbReader } from "./reader.ts";
import { VNC_AUTH_CHALLENGE_BYTES, vncAuthResponse } from "./vnc_auth.ts";

/** Security type VeNCrypt. */
export const SECURITY_VENCRYPT = 19;

/** The security schemes vncws may use toward a server (`--rfb-auth`), as nova's `auth_schemes`. */
export type RfbAuthScheme = "vencrypt" | "vnc" | "none";

/** Every {@linkcode RfbAuthScheme}, for parsers and messages. */
export const RFB_AUTH_SCHEMES: readonly RfbAuthScheme[] = ["vencrypt", "vnc", "none"];

/** The order used when `--rfb-auth` is not given (a target with credentials). */
export const DEFAULT_RFB_AUTH: readonly RfbAuthScheme[] = ["vencrypt", "vnc", "none"];

/** What the viewer is told when the server refused vncws's credentials. */
export const CREDENTIALS_REFUSED = "the VNC server refused the credentials";

/** A VeNCrypt subtype: its number, name, whether it runs TLS and what it needs. */
interface Subtype {
  code: number;
  name: string;
  /** "x509": TLS verified against the CA; "anon": anonymous DH (not possible here). */
  tls?: "x509" | "anon";
  /** The inner authentication after TLS (if any). */
  auth: "none" | "vnc" | "plain";
}

/** VeNCrypt subtypes in vncws's preference order: verified TLS first, cleartext last. */
const SUBTYPES: readonly Subtype[] = [
  { code: 262, name: "X509Plain", tls: "x509", auth: "plain" },
  { code: 261, name: "X509Vnc", tls: "x509", auth: "vnc" },
  { code: 260, name: "X509None", tls: "x509", auth: "none" },
  { code: 259, name: "TLSPlain", tls: "anon", auth: "plain" },
  { code: 258, name: "TLSVnc", tls: "anon", auth: "vnc" },
  { code: 257, name: "TLSNone", tls: "anon", auth: "none" },
  { code: 256, name: "Plain", auth: "plain" },
  { code: SECURITY_VNC_AUTH, name: "VncAuth", auth: "vnc" },
  { code: SECURITY_NONE, name: "None", auth: "none" },
];

const TYPE_NAMES: Record<number, string> = {
  [SECURITY_NONE]: "None",
  [SECURITY_VNC_AUTH]: "VncAuth",
  [SECURITY_VENCRYPT]: "VeNCrypt",
};

/** A security type or subtype number as a name for messages. */
function typeName(code: number): string {
  return TYPE_NAMES[code] ?? SUBTYPES.find((s) => s.code === code)?.name ?? `type ${code}`;
}

/** Options for {@linkcode clientHandshake}. */
export interface ClientHandshakeOptions {
  /** What vncws answers the server's authentication with; absent: only None-like types fit. */
  credentials?: RfbCredentials;
  /** The schemes vncws may use, in preference order. */
  schemes: readonly RfbAuthScheme[];
  /**
   * Starts verified TLS over `stream` (VeNCrypt X509 subtypes): the target's
   * certificate checked against `--target-ca` and its host name, a client
   * certificate sent when configured.
   */
  startTls(stream: ByteStream): Promise<ByteStream>;
  /**
   * Aborted when the caller gives up (a timeout, shutdown): the TLS stream
   * a VeNCrypt X509 subtype started is closed then, as the caller closes
   * only the stream it passed in.
   */
  signal?: AbortSignal;
}

/** How a {@linkcode clientHandshake} ended. */
export type ClientHandshakeResult =
  | {
    ok: true;
    /** The authenticated stream (TLS for X509 subtypes), ready for ClientInit. */
    stream: ByteStream;
    /** The version spoken with the server. */
    minor: 3 | 7 | 8;
    /** What was used, e.g. `VeNCrypt X509Vnc`, for the log. */
    security: string;
  }
  | {
    ok: false;
    /** True when the server refused the credentials (as opposed to any other failure). */
    refused: boolean;
    /** What the viewer is told (no secret, no local paths). */
    reason: string;
    /** What vncws logs (the server's own words, TLS errors). */
    detail: string;
    /**
     * The scheme to drop before one more try on a new connection: VeNCrypt
     * was chosen but offered no subtype vncws can use while the server also
     * offered another usable type.
     */
    retryWithout?: RfbAuthScheme;
  };

type Failure = Extract<ClientHandshakeResult, { ok: false }>;

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

function fail(reason: string, detail = reason, refused = false): Failure {
  return { ok: false, refused, reason, detail };
}

/** A failure whose details stay in the log: the viewer gets a short reason. */
function internal(detail: string): Failure {
  return fail("vncws could not authenticate to the VNC server (its log says why)", detail);
}

async function readReason(reader: RfbReader): Promise<string> {
  const n = await reader.u32();
  // A reason is a short text; a huge length is a broken server, not a reason to buffer it.
  if (n > 64 * 1024) return `(a reason of ${n} bytes, not read)`;
  return latin1.decode(await reader.take(n));
}

/** Whether `auth` can be answered with `credentials`. */
function canAnswer(auth: Subtype["auth"], credentials: RfbCredentials | undefined): boolean {
  if (auth === "none") return true;
  if (auth === "vnc") return credentials?.password !== undefined;
  return credentials?.password !== undefined && credentials.username !== undefined;
}

/**
 * Runs the client side of the handshake on `stream` (just connected to a
 * VNC server). Never throws for protocol trouble: every failure is a result
 * with a reason for the viewer and a detail for the log. The caller owns
 * `stream` (and, on success, the returned one, which closes it).
 */
export async function clientHandshake(
  stream: ByteStream,
  options: ClientHandshakeOptions,
): Promise<ClientHandshakeResult> {
  try {
    return await handshake(stream, options);
  } catch (e) {
    if (e instanceof RfbEndOfStream) {
      return internal("the VNC server closed the connection during the handshake");
    }
    return internal(e instanceof Error ? e.message : String(e));
  }
}

async function handshake(
  stream: ByteStream,
  options: ClientHandshakeOptions,
): Promise<ClientHandshakeResult> {
  const reader = new RfbReader(stream, 4096);
  const version = await reader.take(VERSION_BYTES);
  const minor = parseVersion(version);
  if (minor === undefined) {
    return internal(
      `the target is not a VNC server (it sent ${JSON.stringify(latin1.decode(version))})`,
    );
  }
  await stream.writeAll(encoder.encode(`RFB 003.00${minor}\n`));
  const { schemes, credentials } = options;
  const allowed = (s: RfbAuthScheme) => schemes.includes(s);
  let type: number;
  let offered: number[] = [];
  if (minor === 3) {
    type = await reader.u32(); // 3.3: the server picks
    if (type === 0) {
      return fail(`the VNC server refused the connection: ${await readReason(reader)}`);
    }
    const usable = (type === SECURITY_NONE && allowed("none")) ||
      (type === SECURITY_VNC_AUTH && allowed("vnc") && canAnswer("vnc", credentials));
    if (!usable) return noCommonType([type], schemes);
  } else {
    const n = await reader.u8();
    if (n === 0) return fail(`the VNC server refused the connection: ${await readReason(reader)}`);
    offered = Array.from(await reader.take(n));
    const choice = chooseType(offered, schemes, credentials);
    if (choice === undefined) return noCommonType(offered, schemes);
    type = choice;
    await stream.writeAll(new Uint8Array([type]));
  }
  if (type === SECURITY_NONE) {
    // 3.8 sends a SecurityResult for None too; 3.3 and 3.7 go straight to ClientInit.
    if (minor === 8) {
      const result = await securityResult(reader, minor);
      if (result) return result;
    }
    return done(stream, reader, minor, "None");
  }
  if (type === SECURITY_VNC_AUTH) {
    await answerVncAuth(stream, reader, credentials!);
    return await securityResult(reader, minor) ?? done(stream, reader, minor, "VncAuth");
  }
  const result = await veNCrypt(stream, reader, minor, options);
  if (result.ok || result.retryWithout === undefined) return result;
  // A new connection is only worth it when another offered type would do.
  const others = schemes.filter((s) => s !== "vencrypt");
  if (chooseType(offered, others, credentials) !== undefined) return result;
  return { ...result, retryWithout: undefined };
}

/** The first scheme in `schemes` that the server offered and vncws can answer. */
function chooseType(
  offered: number[],
  schemes: readonly RfbAuthScheme[],
  credentials: RfbCredentials | undefined,
): number | undefined {
  for (const scheme of schemes) {
    if (scheme === "vencrypt" && offered.includes(SECURITY_VENCRYPT)) return SECURITY_VENCRYPT;
    if (
      scheme === "vnc" && offered.includes(SECURITY_VNC_AUTH) && canAnswer("vnc", credentials)
    ) return SECURITY_VNC_AUTH;
    if (scheme === "none" && offered.includes(SECURITY_NONE)) return SECURITY_NONE;
  }
  return undefined;
}

function noCommonType(offered: number[], schemes: readonly RfbAuthScheme[]): Failure {
  const text = `the VNC server offers ${offered.map(typeName).join(", ") || "nothing"}; ` +
    `vncws may use ${schemes.join(", ")} (--rfb-auth) with the credentials it holds`;
  return fail(`no security type in common with the VNC server: ${text}`, text);
}

async function answerVncAuth(
  stream: ByteStream,
  reader: RfbReader,
  credentials: RfbCredentials,
): Promise<void> {
  const challenge = await reader.take(VNC_AUTH_CHALLENGE_BYTES);
  await stream.writeAll(vncAuthResponse(credentials.password, challenge));
}

async function answerPlain(stream: ByteStream, credentials: RfbCredentials): Promise<void> {
  const user = encoder.encode(credentials.username ?? "");
  const pass = encoder.encode(credentials.password);
  await stream.writeAll(concatBytes([u32be(user.length), u32be(pass.length), user, pass]));
}

/** Reads SecurityResult: undefined when it says OK, else the failure (refused credentials). */
async function securityResult(reader: RfbReader, minor: 3 | 7 | 8): Promise<Failure | undefined> {
  const status = await reader.u32();
  if (status === 0) return undefined;
  // Only 3.8 servers say why; older ones just close.
  const why = minor === 8 ? await readReason(reader).catch(() => "") : "";
  return fail(
    CREDENTIALS_REFUSED,
    `the VNC server refused the credentials${why ? `: ${why}` : ""}`,
    true,
  );
}

/** The handshake is through: the stream, with any byte read ahead put back in front. */
function done(
  stream: ByteStream,
  reader: RfbReader,
  minor: 3 | 7 | 8,
  security: string,
): ClientHandshakeResult {
  const rest = reader.rest();
  return {
    ok: true,
    stream: rest.length ? new PrefixedStream(stream, rest) : stream,
    minor,
    security,
  };
}

/** VeNCrypt 0.2: version, subtype, then TLS and the inner authentication. */
async function veNCrypt(
  stream: ByteStream,
  reader: RfbReader,
  minor: 3 | 7 | 8,
  options: ClientHandshakeOptions,
): Promise<ClientHandshakeResult> {
  const major = await reader.u8();
  const sub = await reader.u8();
  if (major !== 0 || sub < 2) {
    await stream.writeAll(new Uint8Array([0, 0])); // tells the server no version fits
    return internal(`the VNC server speaks VeNCrypt ${major}.${sub}; vncws speaks 0.2 only`);
  }
  await stream.writeAll(new Uint8Array([0, 2]));
  if ((await reader.u8()) !== 0) return internal("the VNC server refused VeNCrypt version 0.2");
  const count = await reader.u8();
  const offered: number[] = [];
  for (let i = 0; i < count; i++) offered.push(await reader.u32());
  const pick = SUBTYPES.find((s) =>
    offered.includes(s.code) && s.tls !== "anon" && canAnswer(s.auth, options.credentials) &&
    // VeNCrypt's inner None and VncAuth are what `none` and `vnc` allow at the top level.
    (s.code !== SECURITY_NONE || options.schemes.includes("none")) &&
    (s.code !== SECURITY_VNC_AUTH || options.schemes.includes("vnc"))
  );
  if (!pick) {
    const names = offered.map(typeName).join(", ") || "nothing";
    const anon = offered.some((c) => SUBTYPES.find((s) => s.code === c)?.tls === "anon");
    const detail = `the VNC server offers the VeNCrypt subtypes ${names}; ` +
      (anon
        ? "its TLS* subtypes need anonymous Diffie-Hellman, which Deno's TLS cannot do: give the " +
          "server a certificate (X509Vnc, X509Plain or X509None)"
        : "none fits the credentials vncws holds");
    // The server waits for a choice; 0 is no subtype at all, and it hangs up.
    await stream.writeAll(u32be(0)).catch(() => {});
    const failure = fail(`no usable VeNCrypt subtype: ${detail}`, detail);
    return { ...failure, retryWithout: "vencrypt" };
  }
  await stream.writeAll(u32be(pick.code));
  let inner = stream;
  let innerReader = reader;
  if (pick.tls === "x509") {
    // Only TLS subtypes are acknowledged (1: the server is ready for the TLS handshake).
    if ((await reader.u8()) !== 1) {
      return internal(`the VNC server could not start TLS for VeNCrypt ${pick.name}`);
    }
    if (reader.rest().length > 0) {
      return internal(`the VNC server sent data before the TLS handshake of ${pick.name}`);
    }
    try {
      inner = await options.startTls(stream);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      return fail(
        "vncws could not verify the VNC server's TLS certificate (its log says why)",
        msg,
      );
    }
    innerReader = new RfbReader(inner, 4096);
  }
  // From here the TLS stream is vncws's to close on every way out but
  // success: a refusal, the server hanging up (a throw), the caller giving up.
  const tls = inner !== stream ? inner : undefined;
  const abandon = () => tls?.close();
  options.signal?.addEventListener("abort", abandon, { once: true });
  let result: ClientHandshakeResult | undefined;
  try {
    if (options.signal?.aborted) return result = internal("the handshake was given up");
    if (pick.auth === "vnc") await answerVncAuth(inner, innerReader, options.credentials!);
    if (pick.auth === "plain") await answerPlain(inner, options.credentials!);
    result = await securityResult(innerReader, minor) ??
      done(inner, innerReader, minor, `VeNCrypt ${pick.name}`);
    return result;
  } finally {
    options.signal?.removeEventListener("abort", abandon);
    if (!result?.ok || options.signal?.aborted) abandon();
  }
}
