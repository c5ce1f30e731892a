/**
 * A tiny 3×5 bitmap font for the demo desktop: digits, upper-case letters and a
 * few symbols, enough for a clock and short labels without any font files.
 * Lower-case letters are drawn as upper-case; anything else as "?".
 * @module
 */

/** Glyph width in font pixels. */
export const GLYPH_WIDTH = 3;
/** Glyph height in font pixels. */
export const GLYPH_HEIGHT = 5;

// Each glyph is five rows of three cells; "#" is ink. Drawn for this project.
const SOURCE: Record<string, string> = {
  "0": "### #.# #.# #.# ###",
  "1": ".#. ##. .#. .#. ###",
  "2": "### ..# ### #.. ###",
  "3": "### ..# .## ..# ###",
  "4": "#.# #.# ### ..# ..#",
  "5": "### #.. ### ..# ###",
  "6": "### #.. ### #.# ###",
  "7": "### ..# ..# .#. .#.",
  "8": "### #.# ### #.# ###",
  "9": "### #.# ### ..# ###",
  "A": ".#. #.# ### #.# #.#",
  "B": "##. #.# ##. #.# ##.",
  "C": ".## #.. #.. #.. .##",
  "D": "##. #.# #.# #.# ##.",
  "E": "### #.. ##. #.. ###",
  "F": "### #.. ##. #.. #..",
  "G": ".## #.. #.# #.# .##",
  "H": "#.# #.# ### #.# #.#",
  "I": "### .#. .#. .#. ###",
  "J": "..# ..# ..# #.# .#.",
  "K": "#.# #.# ##. #.# #.#",
  "L": "#.. #.. #.. #.. ###",
  "M": "#.# ### #.# #.# #.#",
  "N": "##. #.# #.# #.# #.#",
  "O": ".#. #.# #.# #.# .#.",
  "P": "##. #.# ##. #.. #..",
  "Q": ".#. #.# #.# ##. .##",
  "R": "##. #.# ##. #.# #.#",
  "S": ".## #.. .#. ..# ##.",
  "T": "### .#. .#. .#. .#.",
  "U": "#.# #.# #.# #.# ###",
  "V": "#.# #.# #.# #.# .#.",
  "W": "#.# #.# #.# ### #.#",
  "X": "#.# #.# .#. #.# #.#",
  "Y": "#.# #.# .#. .#. .#.",
  "Z": "### ..# .#. #.. ###",
  " ": "... ... ... ... ...",
  ":": "... .#. ... .#. ...",
  "-": "... ... ### ... ...",
  "+": "... .#. ### .#. ...",
  "=": "... ### ... ### ...",
  ".": "... ... ... ... .#.",
  ",": "... ... ... .#. #..",
  "/": "..# ..# .#. #.. #..",
  "_": "... ... ... ... ###",
  "?": "##. ..# .#. ... .#.",
  "!": ".#. .#. .#. ... .#.",
  "(": "..# .#. .#. .#. ..#",
  ")": "#.. .#. .#. .#. #..",
  "'": ".#. .#. ... ... ...",
  '"': "#.# #.# ... ... ...",
  "#": "#.# ### #.# ### #.#",
  "*": "#.# .#. ### .#. #.#",
  "<": "..# .#. #.. .#. ..#",
  ">": "#.. .#. ..# .#. #..",
  "[": "##. #.. #.. #.. ##.",
  "]": ".## ..# ..# ..# .##",
};

/** Glyph bitmaps: 15 booleans per glyph, row-major. */
const GLYPHS = new Map<string, boolean[]>(
  Object.entries(SOURCE).map((
    [ch, rows],
  ) => [ch, [...rows.replaceAll(" ", "")].map((c) => c === "#")]),
);

/** The bitmap for `ch` (row-major, {@linkcode GLYPH_WIDTH} × {@linkcode GLYPH_HEIGHT}). */
export function glyph(ch: string): boolean[] {
  return GLYPHS.get(ch) ?? GLYPHS.get(ch.toUpperCase()) ?? GLYPHS.get("?")!;
}
