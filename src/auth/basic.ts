/**
 * websockify's `BasicHTTPAuth`: HTTP Basic authentication.
 *
 * `--auth-source` is either `user:password` (split at the first colon, so the
 * password may contain colons), or the path of an existing htpasswd-style
 * file: lines `user:hash` with bcrypt (`$2y$`, `$2a$`, `$2b$`, as made by
 * `htpasswd -B`), `{SHA}` (base64 SHA-1, `htpasswd -s`) or a plain password;
 * `#` comments and blank lines are skipped; other hash types (`$apr1$`,
 * crypt) are refused with a log line naming the file and line.
 *
 * Answers: no `Authorization` header → 401 with
 * `WWW-Authenticate: Basic realm="vncws"`; wrong user or password → 401
 * (same header, so browsers ask again); another scheme (Bearer, Digest) →
 * 403; bad base64 or no colon in the decoded credentials → 400.
 * Comparisons are constant-time; unknown users cost the same as known ones.
 * Successful bcrypt checks are remembered for 5 minutes (keyed by a SHA-256 of
 * the header), so a page load with `--web-auth` does not run bcrypt per file.
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import bcrypt from "bcryptjs";
import type { RequestHead } from "../http/head.ts";
import { type Refusal, refusal } from "./refusal.ts";
import { logWarn } from "../base/log.ts";

/** The realm browsers show in their password prompt. */
export const BASIC_REALM = "vncws";

/** A user's stored secret: a bcrypt hash, or a SHA-1 or SHA-256 digest. */
export type Stored =
  | { kind: "bcrypt"; hash: string }
  | { kind: "sha1"; digest: Uint8Array }
  | { kind: "plain"; digest: Uint8Array };

const sha256 = (data: string | Uint8Array) =>
  new Uint8Array(createHash("sha256").update(data).digest());

function storedFor(secret: string, where: string): Stored | undefined {
  if (/^\$2[aby]\$\d\d\$.{53}$/.test(secret)) return { kind: "bcrypt", hash: secret };
  if (secret.startsWith("{SHA}")) {
    const digest = decodeBase64(secret.slice(5));
    if (!digest || digest.length !== 20) {
      logWarn("htpasswd {SHA} entry is not a SHA-1 digest, skipped", { where });
      return undefined;
    }
    return { kind: "sha1", digest };
  }
  if (/^\$(apr1|1|5|6|2[aby]?)\$/.test(secret)) {
    logWarn("htpasswd entry uses an unsupported hash (use bcrypt: htpasswd -B), skipped", {
      where,
    });
    return undefined;
  }
  return { kind: "plain", digest: sha256(secret) };
}

/** Reads `user:password` or an htpasswd file into a user → stored secret map. */
export function loadBasicCredentials(source: string): Map<string, Stored> {
  const users = new Map<string, Stored>();
  let isFile = false;
  try {
    isFile = Deno.statSync(source).isFile;
  } catch { /* not a file: user:password */ }
  if (!isFile) {
    const colon = source.indexOf(":");
    if (colon <= 0) {
      throw new Error(
        `BasicHTTPAuth source must be user:password or an existing htpasswd file; got ${
          colon < 0 ? "no colon and no such file" : "an empty user name"
        }`,
      );
    }
    users.set(source.slice(0, colon), { kind: "plain", digest: sha256(source.slice(colon + 1)) });
    return users;
  }
  const lines = Deno.readTextFileSync(source).split("\n");
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const colon = line.indexOf(":");
    const where = `${source}:${i + 1}`;
    if (colon <= 0) {
      logWarn("htpasswd line is not user:hash, skipped", { where });
      return;
    }
    const stored = storedFor(line.slice(colon + 1), where);
    if (stored) users.set(line.slice(0, colon), stored);
  });
  if (users.size === 0) {
    throw new Error(`BasicHTTPAuth file ${source} has no usable user:hash lines`);
  }
  return users;
}

/** Decodes strict base64 to bytes, or `undefined`. */
function decodeBase64(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

const DUMMY_BCRYPT = "$2b$10$" + "C".repeat(53);
const CACHE_MS = 5 * 60 * 1000;
const CACHE_MAX = 1000;

/** A Basic auth checker over a loaded credential map. */
export function createBasicAuth(
  source: string,
): (head: RequestHead) => Promise<Refusal | null> {
  const users = loadBasicCredentials(source);
  const challenge = { "WWW-Authenticate": `Basic realm="${BASIC_REALM}"` };
  const remembered = new Map<string, number>();
  const hasBcrypt = [...users.values()].some((s) => s.kind === "bcrypt");

  return async (head) => {
    const header = head.headers.get("authorization");
    if (header === undefined || header.trim() === "") {
      return refusal("auth_required", 401, "authentication required", challenge);
    }
    const m = /^(\S+)\s*(.*)$/.exec(header.trim());
    if (!m || m[1].toLowerCase() !== "basic") {
      return refusal("auth", 403, "only Basic authentication is accepted");
    }
    const bytes = decodeBase64(m[2].trim());
    if (!bytes) return refusal("auth", 400, "Authorization header is not valid base64");
    const text = new TextDecoder().decode(bytes);
    const colon = text.indexOf(":");
    if (colon < 0) return refusal("auth", 400, "Basic credentials must be user:password");
    const user = text.slice(0, colon);
    const password = text.slice(colon + 1);

    const key = createHash("sha256").update(header).digest("hex");
    const until = remembered.get(key);
    if (until !== undefined && until > Date.now()) return null;

    const stored = users.get(user);
    let ok = false;
    if (!stored) {
      // Spend the same effort as for a real user, so timing does not reveal user names.
      if (hasBcrypt) await bcrypt.compare(password, DUMMY_BCRYPT).catch(() => false);
      else timingSafeEqual(sha256(password), sha256(""));
    } else if (stored.kind === "bcrypt") {
      ok = await bcrypt.compare(password, stored.hash).catch(() => false);
      if (ok) {
        if (remembered.size >= CACHE_MAX) remembered.clear();
        remembered.set(key, Date.now() + CACHE_MS);
      }
    } else if (stored.kind === "sha1") {
      const digest = new Uint8Array(createHash("sha1").update(password).digest());
      ok = timingSafeEqual(digest, stored.digest);
    } else {
      ok = timingSafeEqual(sha256(password), stored.digest);
    }
    return ok ? null : refusal("auth", 401, "wrong user name or password", challenge);
  };
}
