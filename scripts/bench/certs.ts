/**
 * A throwaway self-signed certificate for the wss peers, made by the test
 * suite's certificate helper (the same openssl call the TLS tests use).
 * @module
 */

import { selfSigned } from "../testing/certs.ts";

/** Paths of a PEM certificate and key in a private temporary directory. */
export interface SelfSigned {
  dir: string;
  cert: string;
  key: string;
}

/** Creates a self-signed certificate for 127.0.0.1 with openssl. */
export async function makeSelfSigned(): Promise<SelfSigned> {
  const dir = await Deno.makeTempDir({ prefix: "vncws-bench-" });
  try {
    const { cert, key } = await selfSigned(dir, "cert", {
      subject: "/CN=127.0.0.1",
      extensions: ["subjectAltName=IP:127.0.0.1"],
    });
    return { dir, cert, key };
  } catch (e) {
    await Deno.remove(dir, { recursive: true });
    throw new Error(
      `openssl could not make a self-signed certificate: ${e instanceof Error ? e.message : e}`,
    );
  }
}
