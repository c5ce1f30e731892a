// The parts of noVNC (npm @novnc/novnc, version pinned in deno.json) the page
// uses, in one place. The paths point into node_modules because the package
// exports only core/rfb.js; `deno task build:viewer` (scripts/build_viewer.ts)
// bundles them with the page into dist/vnc.js, which is what the browser loads.

export { default as RFB } from "../../../node_modules/@novnc/novnc/core/rfb.js";
export { initLogging } from "../../../node_modules/@novnc/novnc/core/util/logging.js";
export { default as KeyTable } from "../../../node_modules/@novnc/novnc/core/input/keysym.js";
export { default as keysyms } from "../../../node_modules/@novnc/novnc/core/input/keysymdef.js";
