/**
 * The Kubernetes Deployment's container args are options vncws accepts
 * (parseCommandLine), and its terminationGracePeriodSeconds is longer than
 * --drain-delay + --drain-timeout, so that SIGKILL never cuts a drain. A
 * broken copy is caught.
 *
 * Needs `--drain-delay` (the drain work).
 */
import assert from "node:assert/strict";
import { checkK8sArgs, readK8s } from "./_deploy.ts";

Deno.test("deploy: the Deployment's args parse, and its grace period covers the drain", () => {
  const k8s = readK8s();
  assert.deepEqual(checkK8sArgs(k8s), []);
  const short = structuredClone(k8s);
  short.get("Deployment")!.spec.template.spec.terminationGracePeriodSeconds = 20;
  assert.match(
    checkK8sArgs(short).join(),
    /terminationGracePeriodSeconds 20 ≤ --drain-delay 5 \+ --drain-timeout 20/,
  );
  const bad = structuredClone(k8s);
  bad.get("Deployment")!.spec.template.spec.containers[0].args.unshift("--no-such-option");
  assert.match(checkK8sArgs(bad).join(), /Deployment args: .*no-such-option/);
});
