/**
 * What differs between the relay engine's two WebSocket roles: which side
 * carries frames, masking, how long to wait for a close reply, and the
 * words of the results (the proxy speaks of its client and target, the
 * bridge of its local side and server; tests and log readers rely on them).
 * The mechanism is the same for both (relay_framed.ts).
 * @module
 */

/** The relay engine's WebSocket roles (the raw role has no frames). */
export type FramedRole = "server" | "client";

/** How one role behaves and words its results. */
export interface RoleRules {
  /** Which stream is the WebSocket peer; the other carries plain bytes. */
  peer: "client" | "target";
  /** The peer's frames must be masked (we are the server). */
  expectMasked: boolean;
  /** Our frames are masked with a fresh key each (we are the client). */
  mask: boolean;
  /** After our close frame for the plain side's end, how long to wait for the peer's. */
  closeWaitMs: number;
  /**
   * After a protocol error, how long to read and drop the peer's bytes before
   * hanging up (so a kernel RST does not destroy our close frame); 0 = none.
   */
  lingerMs: number;
  /**
   * After a failed write to the plain side: stop it, send our close, then read
   * and drop the peer's bytes until its EOF or `closeWaitMs` (a peer still
   * streaming would get an RST that can destroy the close frame); false =
   * close at once.
   */
  awaitReplyOnWriteError: boolean;
  /** Result reasons; `[code, sent, reason]` are the close code, its frame text and the result's words. */
  text: {
    /** The peer sent a close frame with `reason`. */
    peerClosed(reason: string): string;
    /** The peer's EOF without a close frame. */
    peerEof: string;
    /** Reading from or writing to the peer failed. */
    peerLost: string;
    /** The peer broke the protocol. */
    protocol(message: string): string;
    /** The plain side's EOF: `[sent, reason]` with code 1000. */
    plainEof: readonly [string, string];
    /** Reading the plain side failed. */
    plainReadError: readonly [number, string, string];
    /** Writing the plain side failed. */
    plainWriteError: readonly [number, string, string];
    /** Added to the plain side's end reason when the peer never answered our close. */
    noReply?: string;
    /** The peer stayed silent after a ping for `seconds`. */
    pingTimeout(seconds: number): string;
    /** Shutdown (the signal aborted). */
    shutdown: string;
  };
}

/** The rules of each WebSocket role. */
export const ROLES: Record<FramedRole, RoleRules> = {
  server: {
    peer: "client",
    expectMasked: true,
    mask: false,
    closeWaitMs: 5000,
    lingerMs: 1000,
    awaitReplyOnWriteError: false,
    text: {
      peerClosed: (r) => r ? `client closed: ${r}` : "client closed",
      peerEof: "client closed without a close frame",
      peerLost: "client connection lost",
      protocol: (m) => m,
      plainEof: ["Target closed", "Target closed"],
      plainReadError: [1011, "Target connection failed", "Target connection failed"],
      plainWriteError: [1011, "Target write failed", "Target write failed"],
      pingTimeout: (s) => `no pong within ${s}s`,
      shutdown: "Going away",
    },
  },
  client: {
    peer: "target",
    expectMasked: false,
    mask: true,
    closeWaitMs: 2000,
    // A server closes on its own after a protocol error; the bridge does not linger.
    lingerMs: 0,
    // The bridge read on until the server's close reply, as it always did.
    awaitReplyOnWriteError: true,
    text: {
      peerClosed: (r) => r ? `server closed: ${r}` : "server closed",
      peerEof: "server closed the connection without a close frame",
      peerLost: "server connection lost",
      protocol: (m) => `server broke the protocol: ${m}`,
      plainEof: ["", "local side closed"],
      plainReadError: [1001, "client connection lost", "local connection lost"],
      plainWriteError: [1001, "client connection lost", "local connection lost"],
      noReply: "; no close reply from the server",
      pingTimeout: (s) => `no answer to a ping within ${s}s`,
      shutdown: "bridge shutting down",
    },
  },
};
