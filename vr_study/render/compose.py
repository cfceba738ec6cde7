"""Lay rendered panels out in a grid and write a caption into each (PIL text).

Pure image functions on (height, width, 3) uint8 RGB arrays.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

MAX_COLUMNS = 4


def grid_shape(num_panels: int, max_columns: int = MAX_COLUMNS) -> tuple[int, int]:
    """(rows, columns) of the grid for ``num_panels`` panels: one row of up to ``max_columns``."""
    cols = min(int(num_panels), max_columns)
    return int(math.ceil(num_panels / cols)), cols


def tile(panels: Sequence[np.ndarray], background: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """Place equally sized panels left to right, top to bottom; empty cells get ``background``."""
    rows, cols = grid_shape(len(panels))
    h, w = panels[0].shape[:2]
    out = np.empty((rows * h, cols * w, 3), np.uint8)
    out[...] = background
    for i, panel in enumerate(panels):
        r, c = divmod(i, cols)
        out[r * h:(r + 1) * h, c * w:(c + 1) * w] = panel
    return out


@lru_cache(maxsize=8)
def _font(size_px: int) -> Any:
    from PIL import ImageFont

    return ImageFont.load_default(size=size_px)  # Pillow's bundled scalable font: same everywhere


def caption_height_px(panel_height_px: int) -> int:
    """Height of the caption band in a panel of this height, pixels."""
    return max(12, int(round(panel_height_px * 0.07)))


def draw_caption(panel: np.ndarray, text: str) -> np.ndarray:
    """Return ``panel`` with ``text`` in white on a dark translucent band along its top edge."""
    if not text:
        return panel
    from PIL import Image, ImageDraw

    h, w = panel.shape[:2]
    band = caption_height_px(h)
    out = panel.copy()
    out[:band] = (out[:band].astype(np.uint16) * 2 // 5).astype(np.uint8)  # darken to 40 %
    image = Image.fromarray(out)
    draw = ImageDraw.Draw(image)
    font = _font(max(8, int(band * 0.72)))
    draw.text((max(2, band // 3), band / 2), text, fill=(255, 255, 255), font=font, anchor="lm")
    return np.asarray(image)
