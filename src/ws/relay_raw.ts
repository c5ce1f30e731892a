/**
 * The raw role of the relay engine: bytes both ways without framing
 * (native VNC viewers), each direction half-closed on its own EOF. The
 * session ends when both directions ended, on an error, the idle timeout or
 * shutdown. Hooks, buffer steps and timers are the shared ones.
 * @module
 */
import type { ByteStream } from "../net/stream.ts";
import {
  CloseRequest,
  INITIAL_BUFFER,
  nextBufferSize,
  RelayCore,
  type RelayResult,
  TRAFFIC,
} from "./relay_core.ts";

/** A raw relay session. */
export class RawRelay extends RelayCore {
  /** Relays until both directions ended or the session was stopped; never throws. */
  async run(): Promise<RelayResult> {
    this.watch(() => {
      this.setEnd(0, "idle timeout");
      this.stopAll();
    }, () => {
      const asked = this.options.signal?.reason;
      this.setEnd(0, asked instanceof CloseRequest ? asked.reason : "Going away");
      this.stopAll();
    });
    const [a, b] = await Promise.all([
      this.#copy(this.client, this.target, true),
      this.#copy(this.target, this.client, false),
    ]);
    this.stopAll();
    this.setEnd(0, a && b ? "both sides closed" : "connection lost");
    return this.finish(a && b ? "client_closed" : undefined);
  }

  /** One direction until EOF (then half-close) or an error (then stop both); true when clean. */
  async #copy(from: ByteStream, to: ByteStream, up: boolean): Promise<boolean> {
    const { traffic, record } = this.options;
    const read = up ? TRAFFIC.upRead : TRAFFIC.downRead;
    const written = up ? TRAFFIC.upWritten : TRAFFIC.downWritten;
    const copy = record && (up ? record.fromClient : record.toClient);
    const result = this.result;
    let buf = new Uint8Array(INITIAL_BUFFER);
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        if (this.clock) this.lastActivity = Date.now();
        if (traffic) traffic(read);
        if (copy) copy.call(record, buf.subarray(0, n));
        await to.writeAll(buf.subarray(0, n));
        if (traffic) traffic(written);
        if (up) result.toTarget += n;
        else result.toClient += n;
        const size = nextBufferSize(buf.length, n);
        if (size !== buf.length) buf = new Uint8Array(size);
      }
      await to.closeWrite();
      return true;
    } catch {
      this.stopAll();
      return false;
    }
  }
}
