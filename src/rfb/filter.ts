/**
 * The view-only and clipboard policy, enforced in the RFB streams: a
 * {@linkcode ByteStream} wrapped around the target's stream, so raw and
 * WebSocket sessions get it alike through the one relay. The framing is
 * `policy_framer.ts`'s; here are the reads and writes, the drop counts and
 * their log lines, and the end of a session it cannot frame: logged, and
 * the relay told through {@linkcode RfbFilter.signal} with the reason.
 * @module
 */
import { logInfo, logWarn } from "../base/log.ts";
import type { ByteStream } from "../net/stream.ts";
import { CloseRequest } from "../ws/relay_core.ts";
import { framesClientStream, framesServerStream, type RfbPolicy } from "./policy.ts";
import { type DropKind, RfbPolicyFramer } from "./policy_framer.ts";
import { RfbProtocolError } from "./reader.ts";

export type { DropKind } from "./policy_framer.ts";

/** WebSocket close code of a session the filter ended (1008: policy violation). */
const CLOSE_POLICY = 1008;

/** True when `policy` needs the filter: one of its streams is framed (policy.ts decides which). */
export function needsRfbFilter(policy: RfbPolicy | undefined): policy is RfbPolicy {
  return policy !== undefined && (framesClientStream(policy) || framesServerStream(policy));
}

/** Options of {@linkcode RfbFilter}. */
export interface RfbFilterOptions {
  /** Called for every message dropped (the metric). */
  onDrop?: (kind: DropKind) => void;
  /** Fields of the session's log lines (client, target, token hash). */
  logFields?: Record<string, unknown>;
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** The target's stream with the session's RFB policy applied (see the module doc). */
export class RfbFilter implements ByteStream {
  readonly #inner: ByteStream;
  readonly #options: RfbFilterOptions;
  readonly #abort = new AbortController();
  readonly #framer: RfbPolicyFramer;
  readonly #dropped = new Map<DropKind, number>();
  #pending: Uint8Array | undefined;

  /** Wraps `inner`, the target's stream, enforcing `policy`. */
  constructor(inner: ByteStream, policy: RfbPolicy, options: RfbFilterOptions = {}) {
    this.#inner = inner;
    this.#options = options;
    this.#framer = new RfbPolicyFramer(policy, (kind, why) => this.#drop(kind, why));
  }

  /** Aborted with a `CloseRequest` when the filter ends the session; the relay's signal. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Dropped messages by kind, for the session's end line; undefined when none were. */
  dropped(): Record<string, number> | undefined {
    return this.#dropped.size > 0 ? Object.fromEntries(this.#dropped) : undefined;
  }

  get peer(): string {
    return this.#inner.peer;
  }
  get local(): string | undefined {
    return this.#inner.local;
  }

  async read(buf: Uint8Array): Promise<number | null> {
    if (this.#pending) return this.#fromPending(buf);
    const framer = this.#framer;
    if (framer.serverUnframed) return this.#inner.read(buf);
    for (;;) {
      if (framer.endReason !== undefined) throw this.#end(framer.endReason);
      const n = await this.#inner.read(buf);
      if (n === null) return null;
      let out: Uint8Array[];
      try {
        out = framer.fromServer(buf.subarray(0, n));
      } catch (e) {
        throw this.#end(this.#unframable(e, "VNC server"));
      }
      if (out.length === 0) continue;
      const first = out[0];
      if (out.length === 1 && first.buffer === buf.buffer && first.byteOffset === buf.byteOffset) {
        return first.length;
      }
      this.#pending = concat(out).slice();
      return this.#fromPending(buf);
    }
  }

  async writeAll(data: Uint8Array): Promise<void> {
    let out: Uint8Array[];
    try {
      out = this.#framer.fromClient(data);
    } catch (e) {
      throw this.#end(this.#unframable(e, "viewer"));
    }
    if (out.length > 0) await this.#inner.writeAll(concat(out));
  }

  closeWrite(): Promise<void> {
    return this.#inner.closeWrite();
  }

  close(): void {
    this.#inner.close();
  }

  #fromPending(buf: Uint8Array): number {
    const p = this.#pending!;
    const n = Math.min(buf.length, p.length);
    buf.set(p.subarray(0, n));
    this.#pending = n < p.length ? p.subarray(n) : undefined;
    return n;
  }

  #unframable(e: unknown, side: string): string {
    const what = e instanceof Error ? e.message : String(e);
    const said = what.startsWith("a ")
      ? `the ${side} sent ${what}`
      : `the ${side}'s stream: ${what}`;
    return `${said}; the view-only/clipboard policy cannot be enforced on a stream vncws ` +
      `cannot frame, so the session ends`;
  }

  /** Ends the session with `reason`: logged, the relay told through the signal. */
  #end(reason: string): Error {
    if (!this.#abort.signal.aborted) {
      logWarn("rfb policy ended the session", { ...this.#options.logFields, reason });
      this.#abort.abort(new CloseRequest(CLOSE_POLICY, reason));
    }
    return new RfbProtocolError(reason);
  }

  #drop(kind: DropKind, why: string): void {
    const n = (this.#dropped.get(kind) ?? 0) + 1;
    this.#dropped.set(kind, n);
    if (n === 1) logInfo("rfb message dropped", { ...this.#options.logFields, kind, why });
    this.#options.onDrop?.(kind);
  }
}
