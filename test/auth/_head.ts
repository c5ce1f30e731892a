import { parseRequestHead, type RequestHead } from "../../src/http/head.ts";

/** Parses a GET request head with the given headers, as the session would. */
export function head(
  target: string,
  headers: [string, string][] | Record<string, string> = {},
): RequestHead {
  let text = `GET ${target} HTTP/1.1\r\nHost: vncws.test\r\n`;
  for (const [k, v] of Array.isArray(headers) ? headers : Object.entries(headers)) {
    text += `${k}: ${v}\r\n`;
  }
  return parseRequestHead(new TextEncoder().encode(text + "\r\n"), {
    maxHeadBytes: 16384,
    maxHeaders: 100,
  });
}
