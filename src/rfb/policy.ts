/**
 * What a session's RFB gateway enforces: the credentials vncws answers the
 * VNC server's authentication with (so the viewer never learns them), and
 * the view-only and clipboard policy applied to the RFB streams. Every
 * token backend and the fixed-target options produce this shape; the
 * gateway (`gateway.ts`) and the policy filter (`filter.ts`) consume it.
 * A session without a policy has no gateway and no filter at all: its bytes
 * take the plain relay.
 * @module
 */

/**
 * Which way clipboard text may go: `both` (default), `to-client` (server →
 * viewer only), `to-server` (viewer → server only) or `none`.
 */
export type ClipboardMode = "both" | "to-client" | "to-server" | "none";

/** The accepted {@linkcode ClipboardMode} values, for parsers and messages. */
export const CLIPBOARD_MODES: readonly ClipboardMode[] = ["both", "to-client", "to-server", "none"];

/** Parses a clipboard mode; undefined when `text` is not one. */
export function parseClipboardMode(text: string): ClipboardMode | undefined {
  return (CLIPBOARD_MODES as readonly string[]).includes(text) ? text as ClipboardMode : undefined;
}

/** The secret vncws answers the VNC server's authentication with. Never logged. */
export interface RfbCredentials {
  /** VncAuth or VeNCrypt/Plain password. */
  password: string;
  /** VeNCrypt Plain user name (VncAuth has none). */
  username?: string;
}

/** A session's RFB policy. */
export interface RfbPolicy {
  /** When set, vncws authenticates to the server and offers the viewer security type None. */
  credentials?: RfbCredentials;
  /** Viewer input (keys, pointer, clipboard, desktop size, power) is dropped. */
  viewOnly: boolean;
  /** Clipboard direction policy. */
  clipboard: ClipboardMode;
}

/** True when `policy` needs the viewer → server stream framed (view-only or a clipboard limit). */
export function framesClientStream(policy: RfbPolicy): boolean {
  return policy.viewOnly || policy.clipboard === "to-client" || policy.clipboard === "none";
}

/** True when `policy` needs the server → viewer stream framed (ServerCutText must be found). */
export function framesServerStream(policy: RfbPolicy): boolean {
  return policy.clipboard === "to-server" || policy.clipboard === "none";
}

/** True when the policy asks for nothing: the session takes the plain relay. */
export function isEmptyPolicy(policy: RfbPolicy | undefined): boolean {
  return policy === undefined ||
    (!policy.credentials && !framesClientStream(policy) && !framesServerStream(policy));
}
