/**
 * WebSocket clients made with npm ws (a real client other than vncws's own
 * code): open a `ws://`/`wss://` session and read the target's banner, and
 * echo bytes through it. The TLS tests use them.
 * @module
 */
import WebSocket from "ws";

const dec = new TextDecoder();

/** Opens a ws/wss connection; resolves the socket and the first message (the banner), or rejects. */
export function wsOpen(
  url: string,
  options: WebSocket.ClientOptions = {},
): Promise<{ ws: WebSocket; banner: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.binaryType = "nodebuffer";
    ws.once("error", reject);
    ws.once("unexpected-response", (_req: unknown, res: { statusCode?: number }) => {
      reject(new Error(`HTTP ${res.statusCode}`));
      ws.terminate();
    });
    ws.once("message", (m: Uint8Array) => resolve({ ws, banner: dec.decode(m) }));
  });
}

/** Sends `data` and collects the same number of bytes back (callable again on the same socket). */
export function wsEcho(ws: WebSocket, data: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const out = new Uint8Array(data.length);
    let got = 0;
    const onMessage = (m: Uint8Array) => {
      out.set(m, got);
      got += m.length;
      if (got < data.length) return;
      ws.off("message", onMessage);
      ws.off("close", onClose);
      resolve(out);
    };
    const onClose = () => reject(new Error(`closed after ${got} bytes`));
    ws.on("message", onMessage);
    ws.once("close", onClose);
    ws.send(data);
  });
}
