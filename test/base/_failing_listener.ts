/**
 * A loopback TCP listener whose first accept fails the way EMFILE does (an
 * error that is not a closed listener), for tests that a server goes on
 * accepting after such an error.
 * @module
 */

/** The listener, and how many accepts were asked of it. */
export function listenerFailingOnce(): {
  listener: { addr: Deno.Addr; accept(): Promise<Deno.Conn>; close(): void };
  accepts: () => number;
} {
  const real = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let calls = 0;
  return {
    listener: {
      addr: real.addr,
      accept(): Promise<Deno.Conn> {
        if (calls++ === 0) return Promise.reject(new Error("Too many open files (os error 24)"));
        return real.accept();
      },
      close: () => real.close(),
    },
    accepts: () => calls,
  };
}
