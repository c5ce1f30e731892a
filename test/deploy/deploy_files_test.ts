/**
 * The files of deploy/ agree with each other and with vncws: the Kubernetes
 * manifests (selectors, the named port, the readiness probe on /readyz of the
 * main port, the Ingress's WebSocket timeouts), compose.yaml (a command vncws
 * accepts, its port, Redis and grace period) and the Containerfile (base image
 * ARG, non-root user, HEALTHCHECK on the port CMD listens on, STOPSIGNAL).
 * Each check also catches a broken copy. The HAProxy and nginx files pass
 * their programs' own config checks. (The Deployment's args use options of
 * the drain work: test/deploy/deploy_args_test.ts.)
 */
import assert from "node:assert/strict";
import { skipUnless, tempDir } from "../../scripts/testing/util.ts";
import { nginxConf } from "../fleet/_fleet.ts";
import {
  checkCompose,
  checkContainerfile,
  checkK8s,
  DEPLOY,
  parseYaml,
  readK8s,
  testedDenoVersion,
} from "./_deploy.ts";

Deno.test("deploy: the Kubernetes manifests agree with each other and with vncws's port and probe", () => {
  const k8s = readK8s();
  assert.deepEqual(checkK8s(k8s), []);
  // Broken copies are caught.
  const broken = structuredClone(k8s);
  const c = broken.get("Deployment")!.spec.template.spec.containers[0];
  c.readinessProbe.httpGet.path = "/healthz";
  c.args[c.args.length - 1] = "0.0.0.0:7000";
  broken.get("Service")!.spec.selector = { app: "other" };
  delete broken.get("Ingress")!.metadata
    .annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"];
  const problems = checkK8s(broken);
  for (
    const p of [
      /readinessProbe path/,
      /listens on 0\.0\.0\.0:7000/,
      /Service selector/,
      /proxy-read-timeout/,
    ]
  ) {
    assert(problems.some((x) => p.test(x)), `${p} not in ${problems.join("; ")}`);
  }
});

Deno.test("deploy: compose.yaml runs a vncws command that parses, on the published port", () => {
  const [compose] = parseYaml(Deno.readTextFileSync(`${DEPLOY}compose.yaml`));
  assert.deepEqual(checkCompose(compose), []);
  const broken = structuredClone(compose);
  broken.services.vncws.command = [...broken.services.vncws.command, "--no-such-option"];
  assert.match(checkCompose(broken).join(), /vncws command: .*no-such-option/);
  const broken2 = structuredClone(compose);
  broken2.services.vncws.stop_grace_period = "5s";
  broken2.services.vncws.ports = ["8080:8080"];
  assert.match(checkCompose(broken2).join(), /stop_grace_period 5s.*|do not publish/);
  assert.equal(checkCompose(broken2).length, 2, checkCompose(broken2).join("; "));
});

Deno.test("deploy: the Containerfile's base, user, health check, stop signal and CMD", () => {
  const text = Deno.readTextFileSync(`${DEPLOY}Containerfile`);
  const version = testedDenoVersion();
  assert.deepEqual(checkContainerfile(text, version), []);
  const broken = text.replace(/^USER deno$/m, "USER root").replace("6080/readyz", "9180/readyz")
    .replace("STOPSIGNAL SIGTERM", "STOPSIGNAL SIGKILL");
  assert.deepEqual(checkContainerfile(broken, version), [
    "USER is root",
    "STOPSIGNAL is not SIGTERM",
    "HEALTHCHECK port 9180, CMD listens on 6080",
  ]);
  assert.match(
    checkContainerfile(text, "2.0.0").join(),
    /no ARG BASE_IMAGE=denoland\/deno:2\.0\.0/,
  );
});

Deno.test({
  name: "deploy: both HAProxy files pass haproxy -c with their placeholders set",
  ignore: skipUnless("haproxy", "apt-get install haproxy"),
  async fn() {
    for (const file of ["haproxy-http.cfg", "haproxy-tcp.cfg"]) {
      const check = (env: Record<string, string>) =>
        new Deno.Command("haproxy", {
          args: ["-c", "-f", `${DEPLOY}${file}`],
          env,
          stdout: "piped",
          stderr: "piped",
        })
          .output();
      const ok = await check({ VNCWS_APP1: "10.0.0.11:6080", VNCWS_APP2: "10.0.0.12:6080" });
      assert(ok.success, `${file}: ${new TextDecoder().decode(ok.stderr)}`);
      // Negative: a replica left without an address is an error, not a silent default.
      const missing = await check({ VNCWS_APP1: "10.0.0.11:6080" });
      assert(!missing.success, `${file} accepted a missing VNCWS_APP2`);
    }
  },
});

Deno.test({
  name: "deploy: nginx.conf passes nginx -t with its placeholders set",
  ignore: skipUnless("nginx", "apt-get install nginx"),
  async fn() {
    using dir = tempDir();
    const conf = nginxConf({ VNCWS_LISTEN: "127.0.0.1:18080", VNCWS_UPSTREAM: "127.0.0.1:6080" });
    assert.match(conf, /proxy_set_header Host \$http_host;/);
    Deno.writeTextFileSync(`${dir.path}/vncws.conf`, conf);
    Deno.writeTextFileSync(
      `${dir.path}/main.conf`,
      `pid ${dir.path}/nginx.pid; events {} http { access_log off; include ${dir.path}/vncws.conf; }`,
    );
    const out = await new Deno.Command("nginx", {
      args: ["-t", "-e", "stderr", "-p", dir.path, "-c", `${dir.path}/main.conf`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(out.success, new TextDecoder().decode(out.stderr));
    assert.throws(() => nginxConf({ VNCWS_LISTEN: "80" }), /placeholders without a value/);
  },
});
