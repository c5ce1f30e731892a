/**
 * Throwaway load balancers for tests, each on a loopback port in front of
 * one server and sending it a PROXY header: HAProxy (`mode tcp`,
 * `send-proxy` or `send-proxy-v2`) and nginx (a `stream` server with
 * `proxy_protocol on;`, v1). Their configuration, pid file and logs live in
 * a temp dir; they run in the foreground and are stopped by PID.
 * @module
 */
import { tcpListeners } from "../../src/base/procfs.ts";
import { freePort, type Proc, startProcess } from "./util.ts";

/** Where Debian installs HAProxy. */
export const HAPROXY = "/usr/sbin/haproxy";

/** Options for {@linkcode startHaproxy}. */
export interface HaproxyOptions {
  /** The server HAProxy forwards to: `127.0.0.1:PORT` or a unix socket path. */
  server: string;
  /** The PROXY header it sends the server (none when absent). */
  sendProxy?: "send-proxy" | "send-proxy-v2";
  /** Its loopback port (default: a free one). */
  port?: number;
}

/** A running balancer; `stop()` stops it and removes its temp dir. */
export interface TestBalancer {
  /** The loopback port clients connect to. */
  port: number;
  /** The process. */
  proc: Proc;
  /** Stops it (by PID) and removes its temp dir. */
  stop(): Promise<void>;
}

/** Starts HAProxy in front of `options.server` and waits until it listens. */
export function startHaproxy(options: HaproxyOptions): Promise<TestBalancer> {
  const port = options.port ?? freePort();
  const config = [
    "global",
    "  maxconn 200",
    "defaults",
    "  mode tcp",
    "  timeout connect 5s",
    "  timeout client 60s",
    "  timeout server 60s",
    "frontend fe",
    `  bind 127.0.0.1:${port}`,
    "  default_backend be",
    "backend be",
    `  server s ${options.server} ${options.sendProxy ?? ""}`,
    "",
  ].join("\n");
  return startBalancer(port, "haproxy.cfg", config, (file) => [HAPROXY, ["-f", file, "-db"]]);
}

/** Where Debian installs nginx, and its stream module (package libnginx-mod-stream). */
export const NGINX = "/usr/sbin/nginx";
/** The dynamic stream module nginx needs for `stream {}`. */
export const NGINX_STREAM = "/usr/lib/nginx/modules/ngx_stream_module.so";

/**
 * Starts nginx (one process, in the foreground) with a `stream` server on a
 * loopback port that passes to `server` (`127.0.0.1:PORT`) with
 * `proxy_protocol on;` (a v1 header), and waits until it listens.
 */
export function startNginxStream(server: string, port = freePort()): Promise<TestBalancer> {
  return startBalancer(port, "nginx.conf", "", (file, dir) => {
    // Everything nginx writes (pid, logs, temp files) stays in the temp dir.
    Deno.writeTextFileSync(
      file,
      [
        `load_module ${NGINX_STREAM};`,
        "daemon off;",
        "master_process off;",
        `pid ${dir}/nginx.pid;`,
        "error_log stderr info;",
        "events { worker_connections 64; }",
        "stream {",
        "  server {",
        `    listen 127.0.0.1:${port};`,
        `    proxy_pass ${server};`,
        "    proxy_protocol on;",
        "  }",
        "}",
        "",
      ].join("\n"),
    );
    return [NGINX, ["-p", `${dir}/`, "-e", "stderr", "-c", file]];
  });
}

/** Writes `config` into a new temp dir, starts the balancer and waits for its port. */
async function startBalancer(
  port: number,
  name: string,
  config: string,
  command: (file: string, dir: string) => [string, string[]],
): Promise<TestBalancer> {
  const dir = Deno.makeTempDirSync({ prefix: "vncws-balancer-" });
  const file = `${dir}/${name}`;
  if (config) Deno.writeTextFileSync(file, config);
  const [bin, args] = command(file, dir);
  const proc = startProcess(bin, args);
  const stop = async () => {
    await proc.stop();
    Deno.removeSync(dir, { recursive: true });
  };
  // Ready once its port listens (/proc/net/tcp): a probe connection would reach the server.
  const deadline = Date.now() + 10_000;
  while (tcpListeners(port).length === 0) {
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${bin} did not listen on ${port}; output:\n${proc.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, proc, stop };
}
