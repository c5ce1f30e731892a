/**
 * Reading the files of deploy/ and checking that they agree with each other
 * and with vncws's options. Each check returns its problems, one line each
 * (empty when the files agree), so that the tests can also show that a
 * broken copy is caught.
 * @module
 */
import { parseAllDocuments } from "yaml";
import { parseCommandLine } from "../../src/cli/cli.ts";
import type { Config } from "../../src/config/config.ts";

/** deploy/. */
export const DEPLOY = new URL("../../deploy/", import.meta.url).pathname;

/** A YAML mapping as the tests walk it. */
// deno-lint-ignore no-explicit-any
export type Doc = Record<string, any>;

/** The documents of a YAML file's text (several with `---`). */
export function parseYaml(text: string): Doc[] {
  return parseAllDocuments(text).map((d) => {
    if (d.errors.length) throw new Error(d.errors.map((e) => e.message).join("; "));
    return d.toJS() as Doc;
  });
}

/** Every document of every deploy/k8s/*.yaml, by kind. */
export function readK8s(): Map<string, Doc> {
  const byKind = new Map<string, Doc>();
  for (const e of Deno.readDirSync(`${DEPLOY}k8s`)) {
    if (!e.name.endsWith(".yaml")) continue;
    for (const doc of parseYaml(Deno.readTextFileSync(`${DEPLOY}k8s/${e.name}`))) {
      byKind.set(doc.kind, doc);
    }
  }
  return byKind;
}

/** The config vncws would run with for `args`, or the usage error's text. */
export function vncwsConfig(args: string[]): Config | string {
  try {
    const cmd = parseCommandLine(args.map(String));
    return cmd.kind === "run" ? cmd.config : `parses as ${cmd.kind}, not as a proxy to run`;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** `problems` with `what` in front of each, for one combined list. */
function named(what: string, problems: string[]): string[] {
  return problems.map((p) => `${what}: ${p}`);
}

/**
 * The Deployment, Service, PodDisruptionBudget and Ingress agree: labels and
 * selectors, the named port, the readiness probe on vncws's main port and
 * /readyz, the listen port in the args. (Whether the args are valid options
 * is {@linkcode checkK8sArgs}.)
 */
export function checkK8s(k8s: Map<string, Doc>): string[] {
  const problems: string[] = [];
  const dep = k8s.get("Deployment");
  const svc = k8s.get("Service");
  const pdb = k8s.get("PodDisruptionBudget");
  const ing = k8s.get("Ingress");
  if (!dep || !svc || !pdb || !ing) {
    return ["deploy/k8s/ needs a Deployment, a Service, a PodDisruptionBudget and an Ingress"];
  }
  const labels = dep.spec?.template?.metadata?.labels ?? {};
  const selects = (sel: Doc | undefined) =>
    sel !== undefined && Object.entries(sel).every(([k, v]) => labels[k] === v);
  if (!selects(dep.spec?.selector?.matchLabels)) problems.push("Deployment selector ≠ pod labels");
  if (!selects(svc.spec?.selector)) problems.push("Service selector ≠ pod labels");
  if (!selects(pdb.spec?.selector?.matchLabels)) problems.push("PDB selector ≠ pod labels");
  const c = dep.spec?.template?.spec?.containers?.[0] ?? {};
  const port = (c.ports ?? []).find((p: Doc) => p.name === "http");
  if (!port) return [...problems, "the container has no port named http"];
  const args: string[] = (c.args ?? []).map(String);
  const listen = /(?:^|:)(\d+)$/.exec(args.at(-1) ?? "");
  if (!listen || Number(listen[1]) !== port.containerPort) {
    problems.push(`vncws listens on ${args.at(-1)}, the container port is ${port.containerPort}`);
  }
  const probe = c.readinessProbe?.httpGet;
  if (probe?.path !== "/readyz") problems.push(`readinessProbe path ${probe?.path}, not /readyz`);
  if (probe?.port !== "http" && probe?.port !== port.containerPort) {
    problems.push(`readinessProbe port ${probe?.port} is not vncws's main port`);
  }
  if (svc.spec?.ports?.[0]?.targetPort !== "http") problems.push("Service targetPort is not http");
  const backend = ing.spec?.rules?.[0]?.http?.paths?.[0]?.backend?.service;
  if (backend?.name !== svc.metadata?.name) problems.push("Ingress backend is not the Service");
  if (backend?.port?.name !== svc.spec?.ports?.[0]?.name) {
    problems.push("Ingress backend port is not the Service's port");
  }
  const annotations = ing.metadata?.annotations ?? {};
  for (const t of ["proxy-read-timeout", "proxy-send-timeout"]) {
    const v = Number(annotations[`nginx.ingress.kubernetes.io/${t}`]);
    if (!(v >= 3600)) problems.push(`Ingress ${t} is ${v || "unset"}: quiet sessions would be cut`);
  }
  return problems;
}

/** The Deployment's container args. */
export function k8sArgs(k8s: Map<string, Doc>): string[] {
  return (k8s.get("Deployment")?.spec?.template?.spec?.containers?.[0]?.args ?? []).map(String);
}

/** The value given to `option` in `args`, as a number (undefined when not given). */
export function optionNumber(args: string[], option: string): number | undefined {
  const i = args.indexOf(option);
  return i < 0 ? undefined : Number(args[i + 1]);
}

/**
 * The Deployment's args are options vncws accepts, and its grace period is
 * longer than --drain-delay + --drain-timeout (SIGKILL would cut the drain).
 */
export function checkK8sArgs(k8s: Map<string, Doc>): string[] {
  const args = k8sArgs(k8s);
  const config = vncwsConfig(args);
  if (typeof config === "string") return named("Deployment args", [config]);
  const grace = k8s.get("Deployment")?.spec?.template?.spec?.terminationGracePeriodSeconds ?? 30;
  const delay = optionNumber(args, "--drain-delay") ?? 0;
  if (!(grace > delay + config.drainTimeout)) {
    return [
      `terminationGracePeriodSeconds ${grace} ≤ --drain-delay ${delay} + --drain-timeout ${config.drainTimeout}`,
    ];
  }
  return [];
}

/** compose.yaml: the vncws command parses; its port, Redis and grace period fit. */
export function checkCompose(compose: Doc): string[] {
  const problems: string[] = [];
  const vncws = compose.services?.vncws;
  if (!vncws) return ["compose.yaml has no vncws service"];
  const config = vncwsConfig(vncws.command ?? []);
  if (typeof config === "string") return named("vncws command", [config]);
  const published = (vncws.ports ?? []).map((p: string) => Number(String(p).split(":").at(-1)));
  if (!published.includes(config.listen?.port)) {
    problems.push(`ports ${vncws.ports} do not publish the listen port ${config.listen?.port}`);
  }
  const redisHost = config.tokenSource?.split(":")[0];
  if (config.tokenPlugin === "TokenRedis" && !compose.services?.[redisHost ?? ""]) {
    problems.push(`--token-source names ${redisHost}, which is no service`);
  }
  const grace = Number(/^(\d+)s$/.exec(vncws.stop_grace_period ?? "")?.[1] ?? 10);
  if (!(grace > config.drainTimeout)) {
    problems.push(`stop_grace_period ${grace}s ≤ --drain-timeout ${config.drainTimeout}`);
  }
  if (vncws.stop_signal !== "SIGTERM") problems.push("stop_signal is not SIGTERM");
  return problems;
}

/** One instruction of a Containerfile: its keyword and the rest of its (joined) line. */
export function containerfileInstructions(text: string): Array<[string, string]> {
  const joined = text.replace(/\\\n\s*/g, " ");
  return joined.split("\n").filter((l) => /^[A-Z]+\s/.test(l)).map((l) => {
    const i = l.indexOf(" ");
    return [l.slice(0, i), l.slice(i + 1).trim()];
  });
}

/**
 * The Containerfile: base image a build ARG defaulting to the official Deno
 * image of the version the tests use, a non-root USER, a HEALTHCHECK on
 * /readyz of the port CMD listens on, STOPSIGNAL SIGTERM, a CMD vncws accepts.
 */
export function checkContainerfile(text: string, denoVersion: string): string[] {
  const problems: string[] = [];
  const ins = containerfileInstructions(text);
  const get = (k: string) => ins.filter(([key]) => key === k).map(([, v]) => v);
  if (!get("ARG").includes(`BASE_IMAGE=denoland/deno:${denoVersion}`)) {
    problems.push(`no ARG BASE_IMAGE=denoland/deno:${denoVersion}`);
  }
  if (get("FROM")[0] !== "${BASE_IMAGE}") problems.push("FROM is not ${BASE_IMAGE}");
  const user = get("USER").at(-1);
  if (!user || user === "root" || user === "0") problems.push(`USER is ${user ?? "unset"}`);
  if (get("STOPSIGNAL")[0] !== "SIGTERM") problems.push("STOPSIGNAL is not SIGTERM");
  let cmd: string[] = [];
  try {
    cmd = JSON.parse(get("CMD")[0] ?? "");
  } catch {
    problems.push("CMD is not in exec (JSON) form");
  }
  const config = vncwsConfig(cmd);
  if (typeof config === "string") return [...problems, `CMD: ${config}`];
  const health = get("HEALTHCHECK")[0] ?? "";
  const url = /http:\/\/127\.0\.0\.1:(\d+)(\/\w+)/.exec(health);
  if (!url) problems.push("no HEALTHCHECK fetching http://127.0.0.1:PORT/PATH");
  else {
    if (url[2] !== "/readyz") problems.push(`HEALTHCHECK path ${url[2]}, not /readyz`);
    if (Number(url[1]) !== config.listen?.port) {
      problems.push(`HEALTHCHECK port ${url[1]}, CMD listens on ${config.listen?.port}`);
    }
  }
  const exposed = get("EXPOSE").map(Number);
  if (!exposed.includes(config.listen?.port ?? -1)) problems.push("EXPOSE is not CMD's port");
  return problems;
}

/** DENO_VERSION of scripts/install_test_deps.sh: the version the tests and the image use. */
export function testedDenoVersion(): string {
  const sh = Deno.readTextFileSync(new URL("../../scripts/install_test_deps.sh", import.meta.url));
  return /^DENO_VERSION=(\S+)$/m.exec(sh)![1];
}
