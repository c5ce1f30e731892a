/**
 * A vncws proxy inside your own program, with a custom `route` hook: the
 * token in `/websockify/<token>` is looked up in a Map that holds the
 * target given on the command line under the token `demo`; any other
 * token is refused with 404.
 *
 *     deno run -A examples/embed_serve.ts 6080 127.0.0.1:5900
 *     # then a viewer at ws://localhost:6080/websockify/demo
 * @module
 */
import { refuse, serve, type Target } from "../mod.ts";

const [port, target] = Deno.args;
const colon = target?.lastIndexOf(":") ?? -1;
if (!port || colon < 1) {
  console.error("usage: embed_serve.ts PORT HOST:PORT");
  Deno.exit(2);
}

const desks = new Map<string, Target>([
  ["demo", {
    kind: "tcp",
    hostname: target.slice(0, colon),
    port: Number(target.slice(colon + 1)),
  }],
]);

const server = await serve({
  // The command line's arguments: the listen port, and any other vncws option.
  args: [port],
  hooks: {
    route: ({ path }) => {
      const token = path.startsWith("/websockify/") ? path.slice("/websockify/".length) : "";
      return desks.get(token) ?? refuse(404, "no such desk");
    },
    onSessionEnd: (s) =>
      console.log(`session to ${s.target} ended: ${s.bytesUp} up, ${s.bytesDown} down`),
  },
});

// Signals belong to the program: let sessions finish, as vncws does on SIGTERM.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => void server.close({ drain: true }));
}
Deno.exit(await server.finished);
