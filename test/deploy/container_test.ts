/**
 * deploy/Containerfile builds and runs. No registry is reachable from the
 * test machines, so the base image is made here: `buildah from scratch` with
 * this machine's deno binary, the libraries it links, a `deno` user and a
 * DENO_DIR holding the npm packages already cached (so `deno install
 * --frozen` in the build finds them without the network), passed as the
 * BASE_IMAGE build ARG. The build runs in a network namespace with no route
 * anywhere, with chroot isolation. The image's config is checked (non-root
 * USER, HEALTHCHECK on /readyz, STOPSIGNAL). Then the image's command runs in
 * that namespace and a client on another host opens a session to it; the
 * container's user cannot write outside its own files.
 *
 * `podman run` is tried first; where it cannot start containers (here: crun
 * cannot set rlimits or use hybrid cgroups in this VM), the test says so and
 * runs the image's entrypoint with `buildah run --isolation chroot` instead.
 */
import assert from "node:assert/strict";
import { createNetwork, skipUnlessNetns } from "../../scripts/testing/netns.ts";
import { FleetClient } from "../../scripts/testing/fleet_client.ts";
import { ROOT } from "../../scripts/testing/repo_files.ts";
import { skipUnless } from "../../scripts/testing/util.ts";
import { APP_PORT, RFB_BANNER } from "../fleet/_fleet.ts";
import { DEPLOY } from "./_deploy.ts";

const dec = new TextDecoder();

/** Runs a command to its end; throws with its output when it fails. */
async function sh(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout).trim();
}

/** The shared libraries `binary` links (`ldd`), as absolute paths. */
async function linkedLibraries(binary: string): Promise<string[]> {
  const out = await sh("ldd", [binary]);
  return [...out.matchAll(/(\/\S+\.so[.\d]*)/g)].map((m) => m[1]);
}

/** Makes the stand-in for denoland/deno: deno, its libraries, a deno user, a DENO_DIR. */
async function makeBaseImage(tag: string): Promise<void> {
  const c = await sh("buildah", ["from", "scratch"]);
  try {
    const root = await sh("buildah", ["mount", c]);
    const deno = Deno.realPathSync(Deno.execPath());
    for (const dir of ["usr/bin", "etc", "tmp", "deno-dir", "home/deno"]) {
      Deno.mkdirSync(`${root}/${dir}`, { recursive: true });
    }
    Deno.chmodSync(`${root}/tmp`, 0o1777);
    Deno.copyFileSync(deno, `${root}/usr/bin/deno`);
    for (const lib of await linkedLibraries(deno)) {
      Deno.mkdirSync(`${root}${lib.slice(0, lib.lastIndexOf("/"))}`, { recursive: true });
      Deno.copyFileSync(Deno.realPathSync(lib), `${root}${lib}`);
    }
    Deno.writeTextFileSync(
      `${root}/etc/passwd`,
      "root:x:0:0:root:/root:/usr/bin/deno\ndeno:x:1993:1993:deno:/home/deno:/usr/bin/deno\n",
    );
    Deno.writeTextFileSync(`${root}/etc/group`, "root:x:0:\ndeno:x:1993:\n");
    // The npm packages this machine has cached stand in for the registry.
    const npmCache = JSON.parse(await sh(Deno.execPath(), ["info", "--json"])).npmCache as string;
    await sh("cp", ["-r", npmCache, `${root}/deno-dir/npm`]);
    await sh("chown", ["-R", "1993:1993", `${root}/deno-dir`, `${root}/home/deno`]);
    await sh("buildah", ["umount", c]);
    await sh("buildah", ["config", "--env", "DENO_DIR=/deno-dir", "--env", "PATH=/usr/bin", c]);
    await sh("buildah", ["commit", "-q", c, tag]);
  } finally {
    await sh("buildah", ["rm", c]).catch(() => {});
  }
}

Deno.test({
  name:
    "deploy: the Containerfile builds offline on a local base; the image runs non-root and serves",
  ignore: skipUnlessNetns() ||
    skipUnless(["buildah", "podman", "ldd"], "apt-get install buildah podman"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const base = `localhost/vncws-test-base:${Deno.pid}`;
    const image = `localhost/vncws-test:${Deno.pid}`;
    let container = "";
    await using net = await createNetwork(["box", "client"]);
    try {
      await makeBaseImage(base);
      const build = await net.exec("box", "buildah", [
        "build",
        "--isolation",
        "chroot",
        "--pull=never",
        // HEALTHCHECK exists only in the Docker image format.
        "--format",
        "docker",
        "--build-arg",
        `BASE_IMAGE=${base}`,
        "-f",
        `${DEPLOY}Containerfile`,
        "-t",
        image,
        ROOT,
      ], 300_000);
      assert.equal(build.code, 0, build.stdout + build.stderr);

      const [info] = JSON.parse(await sh("podman", ["image", "inspect", image]));
      assert.equal(info.Config.User, "deno");
      assert.equal(info.Config.StopSignal, "SIGTERM");
      assert.match(
        (info.Healthcheck ?? info.Config.Healthcheck).Test.join(" "),
        /127\.0\.0\.1:6080\/readyz/,
      );
      assert.deepEqual(info.Config.Cmd, ["--demo", String(APP_PORT)]);

      const podman = await new Deno.Command("podman", {
        // No systemd here for health check timers; limits this VM lets crun set.
        args: [
          "run",
          "--rm",
          "--network",
          "none",
          "--no-healthcheck",
          "--ulimit",
          "nofile=1024:1024",
          "--ulimit",
          "nproc=1024:1024",
          image,
          "--version",
        ],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(60_000),
      }).output();
      if (podman.success) {
        assert.match(dec.decode(podman.stdout), /^vncws /);
      } else {
        console.log(
          `podman run cannot start containers here (${
            dec.decode(podman.stderr).trim().split("\n").at(-1)
          }): ` +
            "running the image's entrypoint with buildah run --isolation chroot instead",
        );
      }
      container = await sh("buildah", ["from", "--pull=never", image]);
      // The image's user may not write outside its own files.
      const write = await net.exec("box", "buildah", [
        "run",
        "--isolation",
        "chroot",
        container,
        "--",
        "deno",
        "eval",
        "Deno.writeTextFileSync('/usr/bin/x', 'x')",
      ]);
      assert.notEqual(write.code, 0);
      assert.match(write.stderr, /PermissionDenied|Permission denied/);
      const vncws = net.start("box", "buildah", [
        "run",
        "--isolation",
        "chroot",
        container,
        "--",
        ...info.Config.Entrypoint,
        ...info.Config.Cmd,
      ]);
      await vncws.waitFor("listening on", 60_000);
      const client = await FleetClient.start(net, "client");
      const ev = await client.open("c", `ws://${net.ip("box")}:${APP_PORT}/websockify`);
      assert.deepEqual([ev.ev, ev.banner], ["open", RFB_BANNER]);
      assert.equal((await client.close("c")).code, 1000);
      await client.stop();
    } finally {
      await net.destroy();
      if (container) await sh("buildah", ["rm", container]).catch(() => {});
      await sh("podman", ["rmi", "-f", image, base]).catch(() => {});
    }
  },
});
