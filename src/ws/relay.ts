/**
 * The relay engine: the hot path that moves bytes between a session's
 * client (the viewer's side) and target (the VNC server's side), in one of
 * three roles, like npm `ws` runs both ends through one engine:
 * - `"server"` — the proxy's WebSocket sessions: the client sends masked
 *   frames, we send unmasked ones ({@linkcode relayWebSocket});
 * - `"client"` — the bridge: the target is a WebSocket server; we mask
 *   what we send with a fresh key per frame and expect unmasked frames
 *   ({@linkcode relayWebSocketClient});
 * - `"raw"` — native VNC viewers: no framing, each direction half-closed
 *   on its own EOF ({@linkcode relayRaw}).
 *
 * Shared by every role (relay_core.ts): backpressure from awaiting every
 * write before the next read, so memory per session is two buffers
 * whatever the peers do; read buffers that step 2 KiB → 64 KiB → 256 KiB
 * as reads fill them; one result shape ({@linkcode RelayResult}: bytes each
 * way in viewer/server terms, close code, reason, outcome); the traffic and
 * record hooks; the idle timeout; the shutdown signal (1001 "Going away").
 * In the WebSocket roles (relay_framed.ts) one read becomes one frame,
 * header in front in one write, and the payloads of all frames in one read
 * go out in one write; writes toward the peer go through one
 * {@linkcode SerialWriter} (data, pongs, pings, close).
 *
 * Timers, the same for both WebSocket roles:
 * - heartbeat: a ping every `heartbeat` seconds until our close is sent;
 * - ping timeout: after a ping, the peer has `pingTimeout` seconds to send
 *   anything at all (a pong, data: any bytes prove it is alive), counted
 *   from the oldest unanswered ping, one deadline at a time; a peer is not
 *   blamed while we are not reading it because the plain side does not take
 *   its data. Then close 1001 "ping timeout";
 * - idle timeout: close 1001 "idle timeout" (raw: hang up) when no data
 *   moved either way for `idleTimeout` seconds;
 * - after our close frame, the peer's reply is awaited for a while
 *   (relay_roles.ts); after the peer's EOF without a close frame, the other
 *   side may finish until silent for {@linkcode HALF_CLOSE_IDLE_MS};
 * - a timer or shutdown waits at most {@linkcode CLOSE_GRACE_MS} for its
 *   close frame to be written (a peer that stopped reading never takes it),
 *   then closes both streams anyway.
 *
 * The pumps read the clock only when a timer needs it (RelayCore.clock in
 * relay_core.ts), at most once per read. The timers of every session share
 * one native timer (src/base/deadlines.ts): an idle fleet of 10 000 sessions
 * with heartbeats wakes the process once per due deadline, not 10 000 times
 * a second, and the idle timeout is one deadline re-armed from the last
 * activity rather than a check every second.
 * @module
 */
import type { ByteStream } from "../net/stream.ts";
import type { RelayResult, WsRelayOptions } from "./relay_core.ts";
import { FramedRelay } from "./relay_framed.ts";
import { RawRelay } from "./relay_raw.ts";

export {
  BULK_BUFFER,
  CLOSE_GRACE_MS,
  CloseRequest,
  firstEnd,
  HALF_CLOSE_IDLE_MS,
  INITIAL_BUFFER,
  nextBufferSize,
  type RecordHooks,
  RELAY_BUFFER,
  type RelayResult,
  SerialWriter,
  type WsRelayOptions,
} from "./relay_core.ts";

/** The engine's roles: who speaks WebSocket on which side. */
export type RelayRole = "server" | "client" | "raw";

/** Options for {@linkcode relayRaw}: the hooks and timers (no WebSocket options apply). */
export type RawRelayOptions = Pick<
  WsRelayOptions,
  "idleTimeout" | "traffic" | "signal" | "record"
>;

/**
 * Relays between `client` (the viewer's side) and `target` (the VNC
 * server's side) in `role` until the session ends. Never throws; both
 * streams are closed when it resolves, and the result says how it ended.
 */
export function relay(
  client: ByteStream,
  target: ByteStream,
  role: RelayRole,
  options: WsRelayOptions = {},
): Promise<RelayResult> {
  if (role === "raw") return new RawRelay(client, target, options).run();
  return new FramedRelay(client, target, role, options).run();
}

/**
 * The proxy's WebSocket sessions: relays between a WebSocket client (after
 * the 101) and a target until either side ends. Never throws.
 */
export function relayWebSocket(
  client: ByteStream,
  target: ByteStream,
  options: WsRelayOptions = {},
): Promise<RelayResult> {
  return relay(client, target, "server", options);
}

/**
 * The bridge: relays between a local stream and a WebSocket server (after
 * the 101; `options.leftover` holds the server bytes read after its head).
 * `toTarget` counts bytes sent to the server. Never throws.
 */
export function relayWebSocketClient(
  local: ByteStream,
  server: ByteStream,
  options: WsRelayOptions = {},
): Promise<RelayResult> {
  return relay(local, server, "client", options);
}

/**
 * Native VNC viewers: relays raw bytes both ways with half-close, with the
 * same hooks as {@linkcode relayWebSocket} (traffic, record, idle timeout,
 * shutdown). Never throws.
 */
export function relayRaw(
  client: ByteStream,
  target: ByteStream,
  options: RawRelayOptions = {},
): Promise<RelayResult> {
  return relay(client, target, "raw", options);
}
