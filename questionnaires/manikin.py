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
"""
from __future__ import annotations

import math

from markupsafe import Markup

DIMENSIONS = ("valence", "arousal", "dominance")
LEVELS = 5
_INK, _SKIN = "#1b1f24", "#eef2f8"


def _burst(cx: float, cy: float, r_out: float, spikes: int = 9) -> str:
    """A star polygon (the SAM arousal "explosion"), outer radius ``r_out`` (SVG units)."""
    pts = []
    for i in range(2 * spikes):
        r = r_out if i % 2 == 0 else r_out * 0.45
        a = math.pi * i / spikes - math.pi / 2
        pts.append(f"{cx + r * math.cos(a):.1f},{cy + r * math.sin(a):.1f}")
    return f'<polygon points="{" ".join(pts)}" fill="{_INK}"/>'


def manikin_svg(dimension: str, level: int, size_px: int = 80) -> Markup:
    """The SAM figure for ``dimension`` at ``level`` (1..5, low to high) as an ``<svg>`` element.

    Drawn in a 100 x 100 box, shown ``size_px`` CSS pixels square; decorative
    (``aria-hidden``): the scale's anchors and numbers carry the meaning.
    """
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown SAM dimension {dimension!r}; use one of {DIMENSIONS}")
    if not 1 <= level <= LEVELS:
        raise ValueError(f"SAM level {level} outside 1..{LEVELS}")
    k = level - 1                                  # 0..4
    parts: list[str] = []
    # body: a rounded bell with arms and legs, head on top
    parts.append(f'<path d="M31,47 Q50,39 69,47 L75,80 Q50,89 25,80 Z" fill="{_SKIN}" stroke="{_INK}" '
                 'stroke-width="2.5" stroke-linejoin="round"/>')
    parts.append(f'<path d="M32,53 L15,67 M68,53 L85,67 M42,84 L40,97 M58,84 L60,97" stroke="{_INK}" '
                 'stroke-width="3.5" stroke-linecap="round" fill="none"/>')
    parts.append(f'<circle cx="50" cy="27" r="16" fill="{_SKIN}" stroke="{_INK}" stroke-width="2.5"/>')
    # eyes: closed for a calm figure, wider open with arousal
    if dimension == "arousal" and k == 0:
        parts.append(f'<path d="M41,25 L47,25 M53,25 L59,25" stroke="{_INK}" stroke-width="2" '
                     'stroke-linecap="round"/>')
    else:
        r_eye = 2.2 + (0.7 * k if dimension == "arousal" else 0)
        parts.append(f'<circle cx="44" cy="24" r="{r_eye:.1f}" fill="{_INK}"/>'
                     f'<circle cx="56" cy="24" r="{r_eye:.1f}" fill="{_INK}"/>')
    # mouth: frown -> smile for valence, neutral otherwise
    bend = (k - 2) * 4.0 if dimension == "valence" else 0.0
    parts.append(f'<path d="M42,34 Q50,{34 + bend:.1f} 58,34" stroke="{_INK}" stroke-width="2.2" '
                 'fill="none" stroke-linecap="round"/>')
    if dimension == "arousal":
        if k == 0:
            parts.append(f'<circle cx="50" cy="65" r="1.8" fill="{_INK}"/>')
        else:
            parts.append(_burst(50, 65, 4.0 + 3.2 * k))
        if k >= 3:                                  # agitation strokes beside the head
            parts.append(f'<path d="M27,14 L22,10 M73,14 L78,10 M25,24 L19,24 M75,24 L81,24" stroke="{_INK}" '
                         'stroke-width="2" stroke-linecap="round"/>')
    body = "".join(parts)
    if dimension == "dominance":                   # small -> large, standing on the same ground line
        scale = (0.42, 0.56, 0.70, 0.85, 1.0)[k]
        body = f'<g transform="translate(50 99) scale({scale}) translate(-50 -99)">{body}</g>'
    return Markup(f'<svg class="manikin" viewBox="0 0 100 100" width="{size_px}" height="{size_px}" '
                  f'aria-hidden="true" focusable="false" data-level="{level}">{body}</svg>')
