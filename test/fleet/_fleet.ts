/**
 * Parts of the multi-host tests: the hosts of a network (scripts/testing/netns.ts)
 * started as VNC desktops, vncws replicas, HAProxy, nginx and redis, each with
 * the files in deploy/ where there is one, and readers of vncws's JSON logs.
 * @module
 */
import type { Network } from "../../scripts/testing/netns.ts";
import { DEMO_DESKTOP } from "../../scripts/testing/demo_desktop.ts";
import { MAIN, type Proc, until } from "../../scripts/testing/util.ts";
import { redisArgs } from "../../scripts/testing/redis.ts";

/** deploy/, the files the tests load as they are. */
export const DEPLOY = new URL("../../deploy/", import.meta.url).pathname;
/** The port every vncws replica and proxy listens on, in its own host. */
export const APP_PORT = 6080;
/** The port every desktop listens on. */
export const VNC_PORT = 5900;
/** The first bytes of a session to the demo desktop. */
export const RFB_BANNER = "RFB 003.008\n";
/** Programs the tests need besides namespaces, with how to install them. */
export const INSTALL = "apt-get install iproute2 haproxy nginx redis-server";

/**
 * Starts the demo desktop in host `host` on its address, port
 * {@linkcode VNC_PORT}; with `echo`, an echo target that sends the RFB banner first.
 */
export async function startDesktop(net: Network, host: string, echo = false): Promise<Proc> {
  const p = net.start(host, Deno.execPath(), [
    "run",
    "-A",
    DEMO_DESKTOP,
    ...(echo ? ["--echo"] : []),
    net.ip(host),
    String(VNC_PORT),
  ]);
  await p.waitFor("demo desktop listening", 20_000);
  return p;
}

/**
 * Starts vncws in host `host` (`deno run -A main.ts --log-format json ARGS`,
 * listening on its address, port {@linkcode APP_PORT}) and waits until it listens.
 * `target`: `host:port`, or left out for token routing.
 */
export async function startReplica(
  net: Network,
  host: string,
  args: string[],
  target?: string,
): Promise<Proc> {
  const p = net.start(host, Deno.execPath(), [
    "run",
    "-A",
    MAIN,
    "--log-format",
    "json",
    ...args,
    `${net.ip(host)}:${APP_PORT}`,
    ...(target ? [target] : []),
  ]);
  await p.waitFor("listening on", 30_000);
  return p;
}

/**
 * Starts HAProxy in host `host` with deploy/`file` as it is, its placeholders
 * set from `env` (VNCWS_BIND defaults to the host's address, port
 * {@linkcode APP_PORT}), in the foreground (`-db`); waits until it runs.
 */
export async function startHaproxy(
  net: Network,
  host: string,
  file: string,
  env: Record<string, string>,
): Promise<Proc> {
  const p = net.start(host, "haproxy", ["-db", "-f", `${DEPLOY}${file}`], {
    env: { VNCWS_BIND: `${net.ip(host)}:${APP_PORT}`, ...env },
  });
  await waitListening(net, host, APP_PORT, p);
  return p;
}

/**
 * Waits until something listens on TCP `port` in host `host` (`ss` in its
 * namespace), failing early when `p`, the process that should, exits.
 */
export async function waitListening(
  net: Network,
  host: string,
  port: number,
  p: Proc,
  timeoutMs = 20_000,
): Promise<void> {
  let exited = false;
  p.status.then(() => exited = true);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await net.exec(host, "ss", ["-Hltn", `sport = :${port}`]);
    if (r.stdout.trim() !== "") return;
    if (exited || Date.now() > deadline) {
      throw new Error(`nothing listens on ${host}:${port}; output:\n${p.output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts redis-server in host `host` on its address, port 6379, no persistence. */
export async function startRedisHost(net: Network, host: string): Promise<Proc> {
  const p = net.start(
    host,
    "redis-server",
    redisArgs(net.ip(host), 6379, ["--protected-mode", "no"]),
  );
  await p.waitFor("Ready to accept connections", 20_000);
  return p;
}

/** One line of vncws's JSON log. */
export type LogLine = Record<string, unknown> & { msg: string };

/** The JSON log lines of a vncws process with message `msg`. */
export function logLines(p: Proc, msg: string): LogLine[] {
  return p.output().split("\n").filter((l) => l.startsWith("{")).map((l) => {
    try {
      return JSON.parse(l) as LogLine;
    } catch {
      return { msg: "" };
    }
  }).filter((l) => l.msg === msg);
}

/** Waits until `p` has logged at least `n` lines with message `msg`; returns them. */
export async function waitLogLines(
  p: Proc,
  msg: string,
  n = 1,
  timeoutMs = 15_000,
): Promise<LogLine[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = logLines(p, msg);
    if (lines.length >= n) return lines;
    if (Date.now() > deadline) {
      throw new Error(`${n} "${msg}" log lines awaited, ${lines.length} found in:\n${p.output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export { until };

/**
 * deploy/nginx.conf with its `${VNCWS_…}` placeholders replaced from `vars`,
 * as `envsubst '${VNCWS_LISTEN} ${VNCWS_UPSTREAM}'` does: nginx's own
 * `$variables` stay. Throws when a placeholder is left without a value.
 */
export function nginxConf(vars: Record<string, string>): string {
  const text = Deno.readTextFileSync(`${DEPLOY}nginx.conf`);
  const out = text.replace(/\$\{(VNCWS_\w+)\}/g, (m, name) => {
    // Comments name the placeholders too: only lines of configuration need values.
    return vars[name] ?? m;
  });
  const missing = out.split("\n").filter((l) =>
    !l.trimStart().startsWith("#") && /\$\{VNCWS_/.test(l)
  );
  if (missing.length) throw new Error(`placeholders without a value: ${missing.join("; ")}`);
  return out;
}

/**
 * Starts Debian's nginx in host `host` with deploy/nginx.conf (placeholders from
 * `vars`) as the only site, its pid file and temp files in `dir`, in the
 * foreground; waits until it listens on `port`.
 */
export async function startNginx(
  net: Network,
  host: string,
  dir: string,
  port: number,
  vars: Record<string, string>,
): Promise<Proc> {
  Deno.writeTextFileSync(`${dir}/vncws.conf`, nginxConf(vars));
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) =>
    `${t}_temp_path ${dir}/${t};`
  ).join(" ");
  Deno.writeTextFileSync(
    `${dir}/nginx-main.conf`,
    `daemon off; pid ${dir}/nginx.pid; error_log stderr info;\n` +
      `events { worker_connections 256; }\n` +
      `http { access_log ${dir}/access.log; ${temp} include ${dir}/vncws.conf; }\n`,
  );
  const p = net.start(host, "nginx", ["-e", "stderr", "-p", dir, "-c", `${dir}/nginx-main.conf`]);
  await waitListening(net, host, port, p);
  return p;
}

/** Starts vncws in hosts app1 and app2 with the same `args` (and `target`); both listening. */
export function startReplicas(net: Network, args: string[], target?: string): Promise<Proc[]> {
  return Promise.all(["app1", "app2"].map((h) => startReplica(net, h, args, target)));
}

/**
 * Starts HAProxy in host lb with deploy/`file`, its servers app1 and app2.
 * `checkPath`: the health check's path when not the file's default (/readyz).
 */
export function startLb(net: Network, file: string, checkPath?: string): Promise<Proc> {
  return startHaproxy(net, "lb", file, {
    VNCWS_APP1: `${net.ip("app1")}:${APP_PORT}`,
    VNCWS_APP2: `${net.ip("app2")}:${APP_PORT}`,
    ...(checkPath ? { VNCWS_CHECK_PATH: checkPath } : {}),
  });
}
