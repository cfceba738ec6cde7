"""PIXIE per-frame parameters stacked into a clip (written by the reconstruction work)."""
from __future__ import annotations

from pathlib import Path

from vr_study.errors import InputError
from vr_study.motion import MotionClip


def matches(path: Path, keys: set[str]) -> bool:
    return False


def read(path: Path, **_: object) -> MotionClip:
    raise InputError(path, None, "PIXIE import is not available yet", "convert it another way")
