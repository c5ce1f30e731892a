/**
 * File-system questions asked in several layers, answered without throwing.
 * @module
 */

/** Whether `path` names a regular file (following symlinks). */
export function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Whether anything exists at `path` (a dangling symlink counts: it is not followed). */
export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
