/**
 * VNC servers that wrap mode knows by name, so it can pass the new port on
 * the command line (`--wrap-port-arg`) instead of moving it with LD_PRELOAD,
 * and can check the listen port against a `:N` display argument.
 *
 * Recognised (by the command's file name, after following symlinks such as
 * Debian's `vncserver` and `Xvnc` alternatives):
 *
 * | kind      | names                                     | arguments appended               |
 * |-----------|-------------------------------------------|----------------------------------|
 * | X server  | Xvnc, Xtigervnc, Xtightvnc, Xvnc4          | `-rfbport NEW -localhost`        |
 * | x11vnc    | x11vnc                                     | `-rfbport NEW -localhost -listen localhost` |
 * | wrapper   | vncserver, tightvncserver, tigervncserver, tigervncserver-*, vnc4server | tightvnc: `-rfbport NEW -localhost`; tigervnc: `-rfbport NEW -localhost yes` |
 *
 * The arguments go last, so they win over earlier ones in all of these.
 * Caveat for wrappers in argument mode: they test that 5900+N is free before
 * starting display :N, and vncws already listens there when the listen port
 * is 5900+N; LD_PRELOAD mode (the default for them) moves that test too.
 * @module
 */

/** How a recognised server takes its port. */
export type ServerKind = "xserver" | "x11vnc" | "tightvnc-wrapper" | "tigervnc-wrapper";

const NAMES: Record<string, ServerKind> = {
  Xvnc: "xserver",
  Xtigervnc: "xserver",
  Xtightvnc: "xserver",
  Xvnc4: "xserver",
  x11vnc: "x11vnc",
  tightvncserver: "tightvnc-wrapper",
  vnc4server: "tigervnc-wrapper",
  tigervncserver: "tigervnc-wrapper",
  vncserver: "tigervnc-wrapper",
};

function which(bin: string): string | undefined {
  if (bin.includes("/")) return bin;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir) continue;
    try {
      if (Deno.statSync(`${dir}/${bin}`).isFile) return `${dir}/${bin}`;
    } catch { /* not here */ }
  }
  return undefined;
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** Which known server `command[0]` is (following symlinks), or undefined. */
export function recogniseServer(command: string[]): ServerKind | undefined {
  if (command.length === 0) return undefined;
  const names = [baseName(command[0])];
  const path = which(command[0]);
  if (path) {
    try {
      names.unshift(baseName(Deno.realPathSync(path)));
    } catch { /* dangling: use the given name */ }
  }
  for (const name of names) {
    if (NAMES[name]) return NAMES[name];
    if (name.startsWith("tigervncserver")) return "tigervnc-wrapper";
  }
  return undefined;
}

/** The arguments that make a recognised server listen on loopback `port`. */
export function portArguments(kind: ServerKind, port: number): string[] {
  switch (kind) {
    case "xserver":
    case "tightvnc-wrapper":
      return ["-rfbport", String(port), "-localhost"];
    case "x11vnc":
      return ["-rfbport", String(port), "-localhost", "-listen", "localhost"];
    case "tigervnc-wrapper":
      return ["-rfbport", String(port), "-localhost", "yes"];
  }
}

/**
 * The RFB port the command would listen on by itself, from an explicit
 * `-rfbport P` or an obvious display argument `:N` (5900+N); undefined when
 * it cannot be told (x11vnc's `:N` names the display it shares, not a port).
 */
export function expectedPort(command: string[]): number | undefined {
  const args = command.slice(1);
  const i = args.lastIndexOf("-rfbport");
  if (i >= 0 && /^\d+$/.test(args[i + 1] ?? "")) return Number(args[i + 1]);
  if (recogniseServer(command) === "x11vnc") return undefined;
  const display = args.find((a) => /^:\d+(\.\d+)?$/.test(a));
  return display ? 5900 + parseInt(display.slice(1), 10) : undefined;
}
