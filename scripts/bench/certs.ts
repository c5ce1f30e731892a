/**
 * A throwaway self-signed certificate for the wss peers.
 * @module
 */

import { run } from "./process.ts";

/** Paths of a PEM certificate and key in a private temporary directory. */
export interface SelfSigned {
  dir: string;
  cert: string;
  key: string;
}

/** Creates a self-signed certificate for 127.0.0.1 with openssl. */
export async function makeSelfSigned(): Promise<SelfSigned> {
  const dir = await Deno.makeTempDir({ prefix: "vncws-bench-" });
  const cert = `${dir}/cert.pem`;
  const key = `${dir}/key.pem`;
  const { code, output } = await run("openssl", "openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "2",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
  ], { timeoutMs: 60_000 });
  if (code !== 0) {
    await Deno.remove(dir, { recursive: true });
    throw new Error(`openssl could not make a self-signed certificate: ${output.slice(-500)}`);
  }
  return { dir, cert, key };
}
