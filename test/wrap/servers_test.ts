/** Which servers wrap mode recognises, what they get, and which port they would use. */
import assert from "node:assert/strict";
import { expectedPort, portArguments, recogniseServer } from "../../src/wrap/servers.ts";

Deno.test("servers: recognised by name and path; others are not", () => {
  assert.equal(recogniseServer(["Xtigervnc", ":1"]), "xserver");
  assert.equal(recogniseServer(["/opt/tigervnc/bin/Xvnc", ":1"]), "xserver");
  assert.equal(recogniseServer(["Xtightvnc", ":1"]), "xserver");
  assert.equal(recogniseServer(["x11vnc", "-display", ":0"]), "x11vnc");
  assert.equal(recogniseServer(["tightvncserver", ":1"]), "tightvnc-wrapper");
  assert.equal(recogniseServer(["tigervncserver", ":1"]), "tigervnc-wrapper");
  assert.equal(recogniseServer(["socat", "TCP-LISTEN:5901", "-"]), undefined);
  assert.equal(recogniseServer([]), undefined);
});

Deno.test("servers: port arguments keep the server on loopback", () => {
  assert.deepEqual(portArguments("xserver", 40001), ["-rfbport", "40001", "-localhost"]);
  assert.deepEqual(portArguments("x11vnc", 40001), [
    "-rfbport",
    "40001",
    "-localhost",
    "-listen",
    "localhost",
  ]);
  assert.deepEqual(portArguments("tigervnc-wrapper", 5), ["-rfbport", "5", "-localhost", "yes"]);
});

Deno.test("servers: expected port from :N or -rfbport; none for x11vnc's display", () => {
  assert.equal(expectedPort(["Xvnc", ":1", "-SecurityTypes", "None"]), 5901);
  assert.equal(expectedPort(["tightvncserver", "-geometry", "800x600", ":12"]), 5912);
  assert.equal(expectedPort(["Xvnc", ":1", "-rfbport", "6000"]), 6000);
  assert.equal(expectedPort(["x11vnc", "-display", ":0"]), undefined);
  assert.equal(expectedPort(["socat", "tcp-listen:5901", "-"]), undefined);
});
