"""A dependency-free PNG writer and the benchmark's speedup bar chart.

matplotlib is not a dependency of fastnn (it is large and only this chart would use it), so the
chart is rasterised here: an RGB canvas, filled rectangles, and text in a 3x5 pixel font scaled up.
"""
import math
import struct
import zlib
from typing import List, Sequence, Tuple

RGB = Tuple[int, int, int]

# 3x5 glyphs: 5 rows of 3 pixels ('#' on), rows separated by spaces. Lower case is drawn as
# upper case, except 'x' (a small x, for "512x784" and "1.25x").
_GLYPHS = {
    "0": "### #.# #.# #.# ###", "1": ".#. ##. .#. .#. ###", "2": "### ..# ### #.. ###",
    "3": "### ..# ### ..# ###", "4": "#.# #.# ### ..# ..#", "5": "### #.. ### ..# ###",
    "6": "### #.. ### #.# ###", "7": "### ..# ..# ..# ..#", "8": "### #.# ### #.# ###",
    "9": "### #.# ### ..# ###",
    "A": ".#. #.# ### #.# #.#", "B": "##. #.# ##. #.# ##.", "C": ".## #.. #.. #.. .##",
    "D": "##. #.# #.# #.# ##.", "E": "### #.. ##. #.. ###", "F": "### #.. ##. #.. #..",
    "G": ".## #.. #.# #.# .##", "H": "#.# #.# ### #.# #.#", "I": "### .#. .#. .#. ###",
    "J": "..# ..# ..# #.# .#.", "K": "#.# #.# ##. #.# #.#", "L": "#.. #.. #.. #.. ###",
    "M": "#.# ### ### #.# #.#", "N": "##. #.# #.# #.# #.#", "O": ".#. #.# #.# #.# .#.",
    "P": "##. #.# ##. #.. #..", "Q": ".#. #.# #.# ##. .##", "R": "##. #.# ##. #.# #.#",
    "S": ".## #.. .#. ..# ##.", "T": "### .#. .#. .#. .#.", "U": "#.# #.# #.# #.# ###",
    "V": "#.# #.# #.# #.# .#.", "W": "#.# #.# ### ### #.#", "X": "#.# #.# .#. #.# #.#",
    "Y": "#.# #.# .#. .#. .#.", "Z": "### ..# .#. #.. ###",
    " ": "... ... ... ... ...", ".": "... ... ... ... .#.", ",": "... ... ... .#. #..",
    ":": "... .#. ... .#. ...", "-": "... ... ### ... ...", "+": "... .#. ### .#. ...",
    ">": "#.. .#. ..# .#. #..", "<": "..# .#. #.. .#. ..#", "=": "... ### ... ### ...",
    "/": "..# ..# .#. #.. #..", "(": ".#. #.. #.. #.. .#.", ")": ".#. ..# ..# ..# .#.",
    "x": "... #.# .#. #.# ...", "%": "#.# ..# .#. #.. #.#", "_": "... ... ... ... ###",
    "*": "#.# .#. #.# ... ...", "[": "##. #.. #.. #.. ##.", "]": ".## ..# ..# ..# .##",
    "'": ".#. .#. ... ... ...", "?": "##. ..# .#. ... .#.", "#": "#.# ### #.# ### #.#",
    "!": ".#. .#. .#. ... .#.", ";": "... .#. ... .#. #..", "|": ".#. .#. .#. .#. .#.", "@": "### #.# ### #.. ###",
}
_FONT = {k: v.replace(" ", "") for k, v in _GLYPHS.items()}
assert all(len(g) == 15 for g in _FONT.values())


class Canvas:
    def __init__(self, width: int, height: int, background: RGB = (255, 255, 255)):
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: RGB):
        x0, x1 = max(0, min(x0, x1)), min(self.width, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.height, max(y0, y1))
        if x0 >= x1:
            return
        row = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            start = 3 * (y * self.width + x0)
            self.pixels[start:start + len(row)] = row

    def text(self, x: int, y: int, s: str, color: RGB = (0, 0, 0), scale: int = 2):
        for ch in s:
            glyph = _FONT.get(ch) or _FONT.get(ch.upper()) or _FONT["?"]
            for i, on in enumerate(glyph):
                if on == "#":
                    cx, cy = x + (i % 3) * scale, y + (i // 3) * scale
                    self.rect(cx, cy, cx + scale, cy + scale, color)
            x += 4 * scale

    @staticmethod
    def text_width(s: str, scale: int = 2) -> int:
        return 4 * scale * len(s)

    def png(self) -> bytes:
        raw = b"".join(b"\x00" + bytes(self.pixels[3 * y * self.width:3 * (y + 1) * self.width])
                       for y in range(self.height))

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)  # 8-bit RGB
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + \
            chunk(b"IEND", b"")


SERIES_COLORS = [(52, 101, 164), (237, 125, 49)]


def bar_chart(path: str, title: Sequence[str], labels: List[str], series: List[Tuple[str, List]]):
    """Horizontal grouped bars of ratios (speedups) on a log2 axis, drawn from the 1x line: right
    of it fastnn is faster, left of it slower. One group per label, one bar per series (None: no
    bar, '-' shown). Writes a PNG to path."""
    scale, bar_h, gap = 2, 12, 10
    label_w = max([Canvas.text_width(s, scale) for s in labels] + [80]) + 16
    plot_w = 560
    top = 20 + 14 * len(title) + 30
    group_h = bar_h * len(series) + gap
    width, height = label_w + plot_w + 90, top + group_h * len(labels) + 50
    values = [v for _, vs in series for v in vs if v]
    lo = math.floor(math.log2(min(values + [0.5]))) - 0.3
    hi = math.ceil(math.log2(max(values + [2.0]))) + 0.3
    c = Canvas(width, height)
    for i, line in enumerate(title):
        c.text(10, 10 + 14 * i, line, scale=scale)
    lx = 10
    for (name, _), color in zip(series, SERIES_COLORS):
        c.rect(lx, top - 24, lx + 12, top - 12, color)
        c.text(lx + 18, top - 23, name, scale=scale)
        lx += 18 + Canvas.text_width(name, scale) + 24
    x0 = label_w

    def xpos(v):
        return x0 + int(plot_w * (math.log2(v) - lo) / (hi - lo))

    label_every = max(1, math.ceil(Canvas.text_width("0.125x", scale) / (plot_w / (hi - lo))))
    for e in range(math.ceil(lo), math.floor(hi) + 1):  # a grid line per power of two
        tick = 2.0 ** e
        c.rect(xpos(tick), top, xpos(tick) + 1, height - 40, (225, 225, 225))
        if e % label_every == 0:  # labels only where they do not collide
            text = f"{tick:g}x"
            c.text(xpos(tick) - Canvas.text_width(text, scale) // 2, height - 34, text, (90, 90, 90), scale=scale)
    one = xpos(1.0)
    for g, label in enumerate(labels):
        y = top + g * group_h
        c.text(8, y + (bar_h * len(series)) // 2 - 5, label, scale=scale)
        for s, ((_, vs), color) in enumerate(zip(series, SERIES_COLORS)):
            v, yb = vs[g], y + s * bar_h
            if not v:
                c.text(one + 6, yb + 1, "not timed", (120, 120, 120), scale=scale)
                continue
            c.rect(min(one, xpos(v)), yb, max(one, xpos(v)), yb + bar_h - 2, color)
            text = f"{v:.2f}x"
            tx = xpos(v) + 4 if v >= 1 else xpos(v) - 4 - Canvas.text_width(text, scale)
            c.text(tx, yb + 1, text, scale=scale)
    c.rect(one, top - 4, one + 2, height - 40, (200, 30, 30))
    with open(path, "wb") as f:
        f.write(c.png())
