"""Self-Assessment Manikin figures drawn as inline SVG (after Bradley & Lang, 1994, Fig. 1).

Bradley & Lang's SAM shows five figures per dimension, with answers on or between them (a
9-point scale with figures at the odd points). The figures here are the project's own
drawings of the three standard sequences:

- ``valence``: the mouth goes from a frown (level 1) to a smile (level 5);
- ``arousal``: from a calm figure with closed eyes and a dot in its belly (level 1) to one
  with wide eyes and a large burst ("explosion") in its belly (level 5);
- ``dominance``: from a small figure (level 1, "controlled") to a large one filling the
  frame (level 5, "in control").

Reference: Bradley, M. M., & Lang, P. J. (1994). Measuring emotion: the Self-Assessment
Manikin and the semantic differential. J. Behav. Ther. Exp. Psychiatry 25(1), 49-59.
Both outputs come from one description of each figure (:func:`figure_shapes`): inline SVG
for the tablet pages (:func:`manikin_svg`) and a Pillow image for the in-headset panel
(:func:`manikin_image`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from markupsafe import Markup

DIMENSIONS = ("valence", "arousal", "dominance")
LEVELS = 5
_INK, _SKIN = "#1b1f24", "#eef2f8"

#: A path command: ("M", x, y), ("L", x, y), ("Q", cx, cy, x, y) or ("Z",), in the 100 x 100 box.
PathCmd = tuple


@dataclass(frozen=True)
class Shape:
    """One element of a figure, in a 100 x 100 box (y down).

    ``kind``: ``path`` (``path`` commands), ``circle`` (``center``, ``radius``) or
    ``polygon`` (``points``). ``fill``/``stroke``: colours (None for none); ``width``:
    stroke width in box units.
    """

    kind: str
    fill: str | None = None
    stroke: str | None = None
    width: float = 0.0
    path: tuple[PathCmd, ...] = ()
    center: tuple[float, float] = (0.0, 0.0)
    radius: float = 0.0
    points: tuple[tuple[float, float], ...] = ()


def _burst(cx: float, cy: float, r_out: float, spikes: int = 9) -> Shape:
    """A star polygon (the SAM arousal "explosion"), outer radius ``r_out`` (box units)."""
    pts = []
    for i in range(2 * spikes):
        r = r_out if i % 2 == 0 else r_out * 0.45
        a = math.pi * i / spikes - math.pi / 2
        pts.append((round(cx + r * math.cos(a), 1), round(cy + r * math.sin(a), 1)))
    return Shape("polygon", fill=_INK, points=tuple(pts))


def _strokes(*segments: tuple[float, float, float, float], width: float) -> Shape:
    cmds: list[PathCmd] = []
    for x0, y0, x1, y1 in segments:
        cmds += [("M", x0, y0), ("L", x1, y1)]
    return Shape("path", stroke=_INK, width=width, path=tuple(cmds))


def _check(dimension: str, level: int) -> None:
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown SAM dimension {dimension!r}; use one of {DIMENSIONS}")
    if not 1 <= level <= LEVELS:
        raise ValueError(f"SAM level {level} outside 1..{LEVELS}")


def figure_scale(dimension: str, level: int) -> float:
    """How large the figure is drawn (dominance: small -> large about the ground point (50, 99))."""
    return (0.42, 0.56, 0.70, 0.85, 1.0)[level - 1] if dimension == "dominance" else 1.0


def figure_shapes(dimension: str, level: int) -> list[Shape]:
    """The SAM figure for ``dimension`` at ``level`` (1..5) as shapes, before :func:`figure_scale`."""
    _check(dimension, level)
    k = level - 1                                  # 0..4
    out: list[Shape] = [
        # body: a rounded bell with arms and legs, head on top
        Shape("path", fill=_SKIN, stroke=_INK, width=2.5,
              path=(("M", 31, 47), ("Q", 50, 39, 69, 47), ("L", 75, 80), ("Q", 50, 89, 25, 80), ("Z",))),
        _strokes((32, 53, 15, 67), (68, 53, 85, 67), (42, 84, 40, 97), (58, 84, 60, 97), width=3.5),
        Shape("circle", fill=_SKIN, stroke=_INK, width=2.5, center=(50, 27), radius=16),
    ]
    # eyes: closed for a calm figure, wider open with arousal
    if dimension == "arousal" and k == 0:
        out.append(_strokes((41, 25, 47, 25), (53, 25, 59, 25), width=2))
    else:
        r_eye = round(2.2 + (0.7 * k if dimension == "arousal" else 0), 1)
        out += [Shape("circle", fill=_INK, center=(44, 24), radius=r_eye),
                Shape("circle", fill=_INK, center=(56, 24), radius=r_eye)]
    # mouth: frown -> smile for valence, neutral otherwise
    bend = (k - 2) * 4.0 if dimension == "valence" else 0.0
    out.append(Shape("path", stroke=_INK, width=2.2, path=(("M", 42, 34), ("Q", 50, round(34 + bend, 1), 58, 34))))
    if dimension == "arousal":
        out.append(Shape("circle", fill=_INK, center=(50, 65), radius=1.8) if k == 0 else _burst(50, 65, 4.0 + 3.2 * k))
        if k >= 3:                                  # agitation strokes beside the head
            out.append(_strokes((27, 14, 22, 10), (73, 14, 78, 10), (25, 24, 19, 24), (75, 24, 81, 24), width=2))
    return out


def _num(v: float) -> str:
    return f"{v:g}"


def _svg(shape: Shape) -> str:
    paint = f'fill="{shape.fill or "none"}"'
    if shape.stroke:
        paint += f' stroke="{shape.stroke}" stroke-width="{_num(shape.width)}"'
    if shape.kind == "circle":
        return (f'<circle cx="{_num(shape.center[0])}" cy="{_num(shape.center[1])}" r="{_num(shape.radius)}" '
                f'{paint}/>')
    if shape.kind == "polygon":
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in shape.points)
        return f'<polygon points="{pts}" {paint}/>'
    d = " ".join(c[0] + ",".join(_num(v) for v in c[1:]) if len(c) <= 3 else
                 f"{c[0]}{_num(c[1])},{_num(c[2])} {_num(c[3])},{_num(c[4])}" for c in shape.path)
    return f'<path d="{d}" {paint} stroke-linecap="round" stroke-linejoin="round"/>'


def manikin_svg(dimension: str, level: int, size_px: int = 80) -> Markup:
    """The SAM figure for ``dimension`` at ``level`` (1..5, low to high) as an ``<svg>`` element.

    Drawn in a 100 x 100 box, shown ``size_px`` CSS pixels square; decorative
    (``aria-hidden``): the scale's anchors and numbers carry the meaning.
    """
    body = "".join(_svg(sh) for sh in figure_shapes(dimension, level))
    scale = figure_scale(dimension, level)
    if scale != 1.0:                               # small -> large, standing on the same ground line
        body = f'<g transform="translate(50 99) scale({scale}) translate(-50 -99)">{body}</g>'
    return Markup(f'<svg class="manikin" viewBox="0 0 100 100" width="{size_px}" height="{size_px}" '
                  f'aria-hidden="true" focusable="false" data-level="{level}">{body}</svg>')


def _flatten(path: tuple[PathCmd, ...], steps: int = 12) -> list[tuple[list[tuple[float, float]], bool]]:
    """A path as polylines ``(points, closed)``; quadratic curves sampled in ``steps`` segments."""
    out: list[tuple[list[tuple[float, float]], bool]] = []
    cur: list[tuple[float, float]] = []
    for c in path:
        if c[0] == "M":
            if cur:
                out.append((cur, False))
            cur = [(c[1], c[2])]
        elif c[0] == "L":
            cur.append((c[1], c[2]))
        elif c[0] == "Q":
            (x0, y0), (cx, cy), (x1, y1) = cur[-1], (c[1], c[2]), (c[3], c[4])
            for i in range(1, steps + 1):
                t = i / steps
                cur.append(((1 - t) ** 2 * x0 + 2 * (1 - t) * t * cx + t * t * x1,
                            (1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t * t * y1))
        elif c[0] == "Z":
            out.append((cur, True))
            cur = []
    if cur:
        out.append((cur, False))
    return out


def manikin_image(dimension: str, level: int, size_px: int = 160, supersample: int = 4):
    """The SAM figure as a ``size_px`` square RGBA Pillow image (transparent background).

    The same shapes as :func:`manikin_svg`, drawn ``supersample`` times larger and scaled
    down (Lanczos) so edges are antialiased.
    """
    from PIL import Image, ImageDraw

    big = size_px * supersample
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    scale = figure_scale(dimension, level)
    unit = big / 100.0

    def xy(p: tuple[float, float]) -> tuple[float, float]:
        return ((50 + (p[0] - 50) * scale) * unit, (99 + (p[1] - 99) * scale) * unit)

    for sh in figure_shapes(dimension, level):
        w = max(1, round(sh.width * scale * unit))
        if sh.kind == "circle":
            (cx, cy), r = xy(sh.center), sh.radius * scale * unit
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=sh.fill, outline=sh.stroke,
                         width=w if sh.stroke else 0)
            continue
        if sh.kind == "polygon":
            polys = [([xy(p) for p in sh.points], True)]
        else:
            polys = [([xy(p) for p in pts], closed) for pts, closed in _flatten(sh.path)]
        for pts, closed in polys:
            if closed and sh.fill:
                draw.polygon(pts, fill=sh.fill)
            if sh.stroke:
                line = pts + [pts[0]] if closed else pts
                draw.line(line, fill=sh.stroke, width=w, joint="curve")
                for x, y in (line[0], line[-1]):   # round caps
                    draw.ellipse((x - w / 2, y - w / 2, x + w / 2, y + w / 2), fill=sh.stroke)
    return img.resize((size_px, size_px), Image.Resampling.LANCZOS)
