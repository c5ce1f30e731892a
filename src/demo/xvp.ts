/**
 * The demo's side of the xvp extension (power actions): the messages it
 * sends and what a viewer's xvp message asks for. A viewer that lists
 * pseudo-encoding -309 in SetEncodings is told XVP_INIT (version 1); its
 * shutdown, reboot and reset requests are shown on the desktop, never acted
 * on; anything else is answered XVP_FAIL.
 * @module
 */
import type { PowerAction } from "./desktop.ts";

/** Pseudo-encoding a viewer lists to say it speaks xvp. */
export const XVP_ENCODING: number = -309;
/** The xvp version the demo speaks. */
export const XVP_VERSION: number = 1;
/** Server xvp message codes. */
export const XvpCode: { readonly Fail: 0; readonly Init: 1 } = { Fail: 0, Init: 1 };

/** Client xvp codes and the actions they ask for. */
const ACTIONS: ReadonlyMap<number, PowerAction> = new Map([
  [2, "shutdown"],
  [3, "reboot"],
  [4, "reset"],
]);

/** The server's xvp message (type 250) with `code`. */
export function xvpMessage(code: number): Uint8Array {
  return new Uint8Array([250, 0, XVP_VERSION, code]);
}

/**
 * The power action a viewer's xvp message asks for, or undefined when the
 * demo cannot do it (another version, an unknown code, or before XVP_INIT).
 */
export function xvpAction(
  msg: { version: number; code: number },
  initialised: boolean,
): PowerAction | undefined {
  if (!initialised || msg.version !== XVP_VERSION) return undefined;
  return ACTIONS.get(msg.code);
}
