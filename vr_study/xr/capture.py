"""Eye images written by the simulator and the headless test runtime: PPM I/O and measures.

The room is neutral grey-blue and the avatars are skin-coloured, so "where is the avatar
in this eye's image" is a colour test: red exceeds blue by a margin only on skin.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def write_ppm(path: str | Path, rgb: np.ndarray) -> None:
    """Write (H, W, 3) uint8 ``rgb`` (top row first) as binary PPM, atomically."""
    from vr_study.atomic import atomic_write_bytes

    h, w, _ = rgb.shape
    atomic_write_bytes(Path(path), f"P6\n{w} {h}\n255\n".encode() + np.ascontiguousarray(rgb, np.uint8).tobytes())


def read_ppm(path: str | Path) -> np.ndarray:
    """Read a binary PPM (P6, maxval 255) into (H, W, 3) uint8."""
    data = Path(path).read_bytes()
    parts = data.split(maxsplit=4)
    if len(parts) < 5 or parts[0] != b"P6" or int(parts[3]) != 255:
        raise ValueError(f"{path}: not a binary 8-bit PPM")
    w, h = int(parts[1]), int(parts[2])
    return np.frombuffer(parts[4][: w * h * 3], np.uint8).reshape(h, w, 3)


def skin_mask(rgb: np.ndarray, margin: int = 12) -> np.ndarray:
    """(H, W) bool: pixels of an avatar (red above blue by ``margin`` of 255)."""
    r = rgb[..., 0].astype(np.int16)
    b = rgb[..., 2].astype(np.int16)
    return (r - b) > margin


def avatar_mask(rgb: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels of an avatar drawn with the default body's materials: skin
    (:func:`skin_mask`), the strongly blue shirt, or dark hair, trousers and shoes (the room
    is a light, weakly bluish grey: blue - red below 20, every channel above 110 of 255)."""
    c = rgb.astype(np.int16)
    return skin_mask(rgb) | ((c[..., 2] - c[..., 0]) > 30) | (c.max(axis=2) < 95)


def avatar_bbox(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) pixel bounds of the avatar pixels, or None if none."""
    m = avatar_mask(rgb)
    if m.sum() < 20:
        return None
    rows = np.flatnonzero(m.any(axis=1))
    cols = np.flatnonzero(m.any(axis=0))
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def avatar_centroid_x(rgb: np.ndarray) -> float | None:
    """Mean column (pixels from the left) of the avatar pixels, or None if none."""
    m = avatar_mask(rgb)
    if m.sum() < 20:
        return None
    return float(np.nonzero(m)[1].mean())


def head_region(rgb: np.ndarray, fraction: float = 0.16) -> tuple[slice, slice] | None:
    """Rows and columns of the top ``fraction`` of the avatar's height (its head), or None."""
    box = avatar_bbox(rgb)
    if box is None:
        return None
    top, bottom, _, _ = box
    rows = slice(top, top + max(4, int((bottom - top) * fraction)))
    cols_hit = np.flatnonzero(avatar_mask(rgb)[rows].any(axis=0))
    return rows, slice(int(cols_hit[0]), int(cols_hit[-1]) + 1)
