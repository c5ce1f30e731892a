/**
 * The WebSocket opening handshake (RFC 6455 §4): validating a client's
 * upgrade request, choosing a subprotocol, and building the 101 answer.
 * The client side (for the bridge) lives here too, so both share the key rule.
 * @module
 */
import { createHash } from "node:crypto";
import { HttpError, type RequestHead } from "../http/head.ts";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** `Sec-WebSocket-Accept` for a client key. */
export function acceptKey(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

/** Splits a comma-separated header into trimmed, non-empty, lower-cased tokens. */
export function headerTokens(value: string | undefined): string[] {
  if (!value) return [];
  return value.split(",").map((t) => t.trim().toLowerCase()).filter((t) => t !== "");
}

/** Whether a request asks for a WebSocket upgrade (an `Upgrade: websocket` token). */
export function isUpgradeRequest(head: RequestHead): boolean {
  return headerTokens(head.headers.get("upgrade")).includes("websocket");
}

/** A validated upgrade request. */
export interface Upgrade {
  /** The client's Sec-WebSocket-Key. */
  key: string;
  /** The client's Sec-WebSocket-Version (13). */
  version: number;
  /** Subprotocols the client offered, trimmed, in order. */
  offered: string[];
  /** The subprotocol we answer with, if any. */
  protocol?: string;
}

/**
 * Chooses the subprotocol: `binary` when offered, else the first offered;
 * never one that was not offered; none offered → none.
 */
export function chooseProtocol(offered: string[]): string | undefined {
  if (offered.length === 0) return undefined;
  return offered.find((p) => p.toLowerCase() === "binary") ?? offered[0];
}

/** Validates an upgrade request; throws {@linkcode HttpError} with the status to answer. */
export function validateUpgrade(head: RequestHead): Upgrade {
  if (head.method !== "GET") {
    throw new HttpError(405, "WebSocket upgrade needs GET", { Allow: "GET" });
  }
  if (head.version !== "HTTP/1.1") throw new HttpError(400, "WebSocket upgrade needs HTTP/1.1");
  if (!headerTokens(head.headers.get("connection")).includes("upgrade")) {
    throw new HttpError(400, "missing 'Connection: Upgrade'");
  }
  const versionText = head.headers.get("sec-websocket-version");
  const version = Number(versionText);
  if (version !== 13 && version !== 8 && version !== 7) {
    throw new HttpError(
      426,
      `unsupported Sec-WebSocket-Version ${JSON.stringify((versionText ?? "").slice(0, 20))}`,
      {
        "Sec-WebSocket-Version": "13",
      },
    );
  }
  const key = head.headers.get("sec-websocket-key") ?? "";
  if (!/^[A-Za-z0-9+/]{22}==$/.test(key)) {
    throw new HttpError(400, "Sec-WebSocket-Key must be 16 bytes in base64");
  }
  const offered = (head.headers.get("sec-websocket-protocol") ?? "").split(",")
    .map((p) => p.trim()).filter((p) => p !== "");
  return { key, version, offered, protocol: chooseProtocol(offered) };
}

/** The 101 response head for a validated upgrade. */
export function switchingProtocols(upgrade: Upgrade): string {
  let head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Accept: ${acceptKey(upgrade.key)}\r\n`;
  if (upgrade.protocol) head += `Sec-WebSocket-Protocol: ${upgrade.protocol}\r\n`;
  return head + "\r\n";
}
