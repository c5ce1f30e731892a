/**
 * How wrap mode gives the wrapped server its new port — through the rebind
 * shim (`LD_PRELOAD`) or on the server's command line —, what the shim
 * reports back, and the explanation when the server does not come up.
 * @module
 */
import type { WrapConfig } from "../config/config.ts";
import { logDebug, logWarn } from "../base/log.ts";
import { processStart } from "./proc.ts";
import { installShim, ShimUnavailableError } from "./shim.ts";
import { expectedPort, portArguments, recogniseServer, type ServerKind } from "./servers.ts";

/** errno values a failed moved bind reports, explained. */
export const ERRNO: Record<number, string> = {
  13: "EACCES, permission denied",
  98: "EADDRINUSE, address already in use",
  99: "EADDRNOTAVAIL, address not available",
};

/** One line of the shim's report: a process bound the moved port, or failed to. */
export interface BindReport {
  /** The process that called bind(). */
  pid: number;
  /** 4 or 6. */
  family: number;
  /** Set when the bind failed. */
  errno?: number;
}

/**
 * The shim's report file (`PID FAMILY[ EERRNO]` lines, appended by every
 * process that binds the moved port), read as it grows.
 */
export class ShimReport {
  readonly #path: string;
  #offset = 0;
  #rest = "";

  /** Reads the report at `path` (it may not exist yet). */
  constructor(path: string) {
    this.#path = path;
  }

  /** The whole lines added since the last call. */
  read(): BindReport[] {
    let bytes: Uint8Array;
    try {
      bytes = Deno.readFileSync(this.#path);
    } catch {
      return [];
    }
    if (bytes.length <= this.#offset) return [];
    const text = this.#rest + new TextDecoder().decode(bytes.subarray(this.#offset));
    this.#offset = bytes.length;
    const lines = text.split("\n");
    this.#rest = lines.pop() ?? "";
    const out: BindReport[] = [];
    for (const line of lines) {
      const m = /^(\d+) ([46])(?: E(\d+))?$/.exec(line.trim());
      if (!m) continue;
      out.push({ pid: Number(m[1]), family: Number(m[2]), errno: m[3] ? Number(m[3]) : undefined });
    }
    return out;
  }
}

/** How the server gets its new port. */
export interface Plan {
  /** The command line to start. */
  argv: string[];
  /** Environment added for it (the shim's variables). */
  env: Record<string, string>;
  /** True when the shim moves the bind (`LD_PRELOAD` with the port variables). */
  preload: boolean;
  /** The recognised server, if any. */
  kind?: ServerKind;
}

/**
 * Picks how the server of `wrap` gets port `ports.new` instead of
 * `ports.old` (`--wrap-port-arg`), installing the shim into `dir` when needed.
 */
export async function makePlan(
  wrap: WrapConfig,
  dir: string,
  ports: { old: number; new: number },
): Promise<Plan> {
  const kind = recogniseServer(wrap.command);
  const parentEnv: Record<string, string> = {
    VNCWS_PARENT_PID: String(Deno.pid),
    VNCWS_PARENT_START: String(processStart(Deno.pid) ?? ""),
    VNCWS_REBIND_REPORT: `${dir}/report`,
  };
  const withShim = (shim: string, extra: Record<string, string>): Record<string, string> => {
    const existing = Deno.env.get("LD_PRELOAD");
    return {
      ...parentEnv,
      ...extra,
      LD_PRELOAD: existing ? `${shim}:${existing}` : shim,
    };
  };
  const argMode = async (): Promise<Plan> => {
    if (!kind) {
      throw new Error(
        `--wrap-port-arg=arg: vncws does not know how to give "${wrap.command[0]}" a port ` +
          "(known: Xvnc, Xtigervnc, Xtightvnc, x11vnc, vncserver, tightvncserver, " +
          "tigervncserver); leave --wrap-port-arg at its default to move the port with LD_PRELOAD",
      );
    }
    const argv = [...wrap.command, ...portArguments(kind, ports.new)];
    // The shim still reports the server and watches vncws, when we have it.
    try {
      const shim = await installShim(dir);
      return {
        argv,
        env: withShim(shim, { VNCWS_REPORT_PORT: String(ports.new) }),
        preload: false,
        kind,
      };
    } catch (e) {
      if (!(e instanceof ShimUnavailableError)) throw e;
      logDebug("wrap: no rebind shim; the server is not watched if vncws is killed");
      return { argv, env: {}, preload: false, kind };
    }
  };
  const preloadMode = async (): Promise<Plan> => {
    const shim = await installShim(dir);
    return {
      argv: [...wrap.command],
      env: withShim(shim, {
        REBIND_OLD_PORT: String(ports.old),
        REBIND_NEW_PORT: String(ports.new),
      }),
      preload: true,
      kind,
    };
  };
  if (wrap.portArg === "arg") return await argMode();
  if (wrap.portArg === "preload") return await preloadMode();
  if (kind === "x11vnc") return await argMode();
  try {
    return await preloadMode();
  } catch (e) {
    if (!(e instanceof ShimUnavailableError) || !kind) throw e;
    logWarn(`${e.message}; passing the port on the command line instead`);
    return await argMode();
  }
}

/** What {@linkcode notReadyText} explains. */
export interface NotReadyFacts {
  /** The wrap configuration. */
  wrap: WrapConfig;
  /** The port vncws listens on. */
  listenPort: number;
  /** The loopback port the server should have listened on. */
  port: number;
  /** Why a moved bind failed, when the shim reported one. */
  bindError?: string;
  /** How the port was given. */
  plan: Plan;
}

/**
 * Why the wrapped server did not become ready (`why` is "timeout" or
 * "exit N"), with what to try.
 */
export function notReadyText(why: string, f: NotReadyFacts): string {
  const cmd = f.wrap.command.join(" ");
  const old = f.listenPort;
  const head = why === "timeout"
    ? `the wrapped command did not listen on 127.0.0.1:${f.port} or [::1]:${f.port} ` +
      `within ${f.wrap.readyTimeout} s`
    : `the wrapped command exited (code ${why.slice(5)}) before it listened on port ${f.port}`;
  const parts = [`${head} (command: ${cmd}).`];
  if (f.bindError) parts.push(`The ${f.bindError}.`);
  if (f.plan.preload) {
    const expected = expectedPort(f.wrap.command);
    parts.push(
      `vncws moves only a bind of port ${old}, the port it listens on, to ${f.port}; ` +
        `a display-numbered server (Xvnc :N, vncserver :N) listens on 5900+N, so the ` +
        `listen port must equal 5900+N` +
        (expected !== undefined && expected !== old
          ? ` (this command would listen on ${expected}: run vncws ${expected} -- ${cmd})`
          : ` (for example vncws 5901 -- Xvnc :1)`) +
        ".",
      "A statically linked server ignores LD_PRELOAD: for Xvnc, Xtigervnc, Xtightvnc, " +
        "x11vnc or vncserver use --wrap-port-arg=arg; a slow server may need a longer " +
        "--wrap-ready-timeout.",
    );
  } else {
    parts.push(
      `vncws passed "${portArguments(f.plan.kind!, f.port).join(" ")}"; check the ` +
        "server's output above for why it did not start listening.",
    );
  }
  return parts.join(" ");
}
